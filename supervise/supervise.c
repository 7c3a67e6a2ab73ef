#include "supervise.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

static const char *const names[] = {"port", "bind", "backlog", "max_line", "max_conns", "idle_timeout"};

bool el_sup_has(const char *tmpl, const char *name)
{
	char pat[40];
	snprintf(pat, sizeof(pat), "{%s}", name);
	return strstr(tmpl, pat) != NULL;
}

static void value_of(const struct el_sup_settings *s, int i, char *v, size_t len)
{
	switch (i) {
	case 0: snprintf(v, len, "%u", s->port); break;
	case 1: snprintf(v, len, "%s", s->bind ? s->bind : "127.0.0.1"); break;
	case 2: snprintf(v, len, "%ld", s->backlog); break;
	case 3: snprintf(v, len, "%ld", s->max_line); break;
	case 4: snprintf(v, len, "%ld", s->max_conns); break;
	default: snprintf(v, len, "%g", s->idle_timeout); break;
	}
}

int el_sup_expand(const char *tmpl, const struct el_sup_settings *s, char *out, size_t len, char *bad,
		  size_t badlen)
{
	size_t o = 0;
	for (const char *p = tmpl; *p;) {
		char v[96] = "";
		size_t take = 1;
		const char *from = p;
		if (*p == '{') {
			const char *end = strchr(p, '}');
			int found = -1;
			for (int i = 0; end && i < (int)(sizeof(names) / sizeof(names[0])); i++)
				if ((size_t)(end - p - 1) == strlen(names[i]) &&
				    strncmp(p + 1, names[i], strlen(names[i])) == 0)
					found = i;
			if (found < 0) {
				/* Shell braces ("${x}", "{a,b}") are left alone; a word
				 * like {foo} that looks like ours is refused. */
				bool word = end && end > p + 1;
				for (const char *q = p + 1; word && q < end; q++)
					word = (*q >= 'a' && *q <= 'z') || *q == '_';
				if (word && (p == tmpl || p[-1] != '$')) {
					snprintf(bad, badlen, "%.*s", (int)(end - p + 1), p);
					return -EINVAL;
				}
			} else {
				value_of(s, found, v, sizeof(v));
				from = v;
				take = (size_t)(end - p + 1);
			}
		}
		size_t n = from == p ? 1 : strlen(v);
		if (o + n + 1 > len)
			return -ENAMETOOLONG;
		memcpy(out + o, from, n);
		o += n;
		p += take;
	}
	out[o] = 0;
	return 0;
}

int el_sup_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int rc = 0;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		rc = -errno;
	close(fd);
	return rc < 0 ? rc : ntohs(a.sin_port);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int open_out(const char *path)
{
	return open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

int el_sup_start_cmd(struct el_sup *s, const char *cmd, const char *host, unsigned port,
		     const char *out_path, const char *err_path, int timeout_ms, char *why, size_t whylen)
{
	memset(s, 0, sizeof(*s));
	s->status = -1;
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->port = port;
	int out = open_out(out_path), err = open_out(err_path);
	if (out < 0 || err < 0) {
		int e = errno;
		snprintf(why, whylen, "cannot open the server's output files: %s", strerror(e));
		if (out >= 0)
			close(out);
		if (err >= 0)
			close(err);
		return -e;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		snprintf(why, whylen, "fork: %s", strerror(e));
		close(out);
		close(err);
		return -e;
	}
	if (pid == 0) {
		setpgid(0, 0);
		int in = open("/dev/null", O_RDONLY);
		if (in >= 0)
			dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		signal(SIGPIPE, SIG_DFL);
		/* A simple command replaces the shell, so that the process
		 * started (and its exit status) is the server's own. */
		char line[8192];
		if (strpbrk(cmd, ";&|<>()`$\\\n'\"{}*?[~#=") == NULL && strlen(cmd) + 6 < sizeof(line)) {
			snprintf(line, sizeof(line), "exec %s", cmd);
			cmd = line;
		}
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	close(out);
	close(err);
	s->pid = pid;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int wait_ms = 2;; wait_ms = wait_ms < 50 ? wait_ms * 2 : 50) {
		char e[128];
		int fd = el_client_connect(host, port, 1000, e, sizeof(e));
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (!el_sup_alive(s)) {
			if (WIFEXITED(s->status))
				snprintf(why, whylen, "the server command exited with status %d before it listened",
					 WEXITSTATUS(s->status));
			else
				snprintf(why, whylen, "the server command was killed by signal %d before it listened",
					 WTERMSIG(s->status));
			kill(-pid, SIGKILL);
			return -ECHILD;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms > timeout_ms) {
			snprintf(why, whylen, "the server did not accept on %s port %u within %d ms (%s)", host, port,
				 timeout_ms, e);
			el_sup_stop(s, SIGTERM, 1000, NULL);
			return -ETIMEDOUT;
		}
		sleep_ms(wait_ms);
	}
}

bool el_sup_alive(struct el_sup *s)
{
	if (s->pid <= 0 || s->status >= 0)
		return false;
	int status;
	pid_t r = waitpid(s->pid, &status, WNOHANG);
	if (r == s->pid || (r < 0 && errno == ECHILD)) {
		s->status = r == s->pid ? status : 0;
		return false;
	}
	return true;
}

int el_sup_group_size(pid_t pgid)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -errno;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[300], buf[512];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = 0;
		char *p = strrchr(buf, ')');
		char state;
		int ppid, pgrp;
		if (p && sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid && state != 'Z')
			n++;
	}
	closedir(d);
	return n;
}

int el_sup_stop(struct el_sup *s, int sig, int grace_ms, int *left)
{
	if (left)
		*left = 0;
	if (s->pid <= 0)
		return -1;
	int rc = -1;
	if (el_sup_alive(s))
		kill(-s->pid, sig);
	for (int ms = 0; ms < grace_ms && el_sup_alive(s); ms += 10)
		sleep_ms(10);
	if (!el_sup_alive(s))
		rc = s->status;
	/* Whatever the group still holds (workers the leader left). */
	kill(-s->pid, SIGKILL);
	if (rc < 0) {
		waitpid(s->pid, &s->status, 0);
	}
	int n = 0;
	for (int ms = 0; ms < 2000 && (n = el_sup_group_size(s->pid)) > 0; ms += 10)
		sleep_ms(10);
	if (left)
		*left = n > 0 ? n : 0;
	s->pid = 0;
	return rc;
}
