/* A submission's copy (class.h: el_sub_*): copied into a folder of its
 * own, sandboxed (or not), and a command run in it under the class's
 * limits. */
#include "class.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

/* Runs argv and waits: 0 when it exited 0, else -EIO. */
static int run_argv(char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

int el_sub_open(struct el_sub *u, const char *src, const char *name, bool sandboxed,
		const struct el_sbx_limits *lim, char *why, size_t whylen)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->work, sizeof(u->work), "/tmp/echolab-sub.XXXXXX");
	if (!mkdtemp(u->work)) {
		snprintf(why, whylen, "mkdtemp /tmp: %s", strerror(errno));
		u->work[0] = 0;
		return -errno;
	}
	/* The sandbox's user must reach the copy through it. */
	chmod(u->work, 0711);
	snprintf(u->dir, sizeof(u->dir), "%s/submission", u->work);
	char from[PATH_MAX + 4];
	snprintf(from, sizeof(from), "%s/.", src);
	char *mk[] = {"mkdir", u->dir, NULL}, *cp[] = {"cp", "-R", "--no-preserve=ownership", from, u->dir, NULL};
	if (run_argv(mk) < 0 || run_argv(cp) < 0) {
		snprintf(why, whylen, "copying %s into %s failed", src, u->dir);
		el_sub_close(u);
		return -EIO;
	}
	if (!sandboxed)
		return 0;
	u->sbx = el_sbx_create(name, u->dir, lim, why, whylen);
	if (!u->sbx) {
		el_sub_close(u);
		return -ENOTSUP;
	}
	return 0;
}

/* Unsandboxed: /bin/sh -c cmd in the copy, a process group of its own,
 * killed whole at the wall-clock limit. */
static int run_plain(struct el_sub *u, const char *cmd, const struct el_sbx_limits *lim, int log_fd,
		     struct el_sbx_result *r)
{
	double t0 = el_io_now_s();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		setpgid(0, 0);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(log_fd >= 0 ? log_fd : null, 1);
		dup2(log_fd >= 0 ? log_fd : null, 2);
		if (chdir(u->dir) < 0)
			_exit(126);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	int st = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (lim->wall_s > 0 && el_io_now_s() - t0 > lim->wall_s && r->end != EL_SBX_WALL_LIMIT) {
			r->end = EL_SBX_WALL_LIMIT;
			kill(-pid, SIGKILL);
		}
		struct timespec nap = {0, 20000000};
		nanosleep(&nap, NULL);
	}
	kill(-pid, SIGKILL);
	r->wall_s = el_io_now_s() - t0;
	if (r->end != EL_SBX_WALL_LIMIT) {
		r->end = WIFEXITED(st) ? EL_SBX_EXITED : EL_SBX_SIGNALED;
		r->code = WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st);
	}
	return 0;
}

int el_sub_run(struct el_sub *u, const char *cmd, const struct el_sbx_limits *lim, int log_fd,
	       struct el_sbx_result *r)
{
	memset(r, 0, sizeof(*r));
	if (!u->sbx)
		return run_plain(u, cmd, lim, log_fd, r);
	pid_t pid = el_sbx_spawn(u->sbx, cmd, log_fd);
	if (pid < 0)
		return (int)pid;
	return el_sbx_wait(u->sbx, pid, r);
}

void el_sub_close(struct el_sub *u)
{
	el_sbx_destroy(u->sbx);
	u->sbx = NULL;
	if (u->work[0]) {
		char *rm[] = {"rm", "-rf", u->work, NULL};
		run_argv(rm);
		u->work[0] = 0;
	}
}
