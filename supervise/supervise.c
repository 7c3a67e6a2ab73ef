#include "supervise.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "procstat.h"

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

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

const char *el_sup_signal_name(int sig, char *buf, size_t len)
{
	const char *abbrev = sigabbrev_np(sig);
	if (abbrev)
		snprintf(buf, len, "SIG%s", abbrev);
	else
		snprintf(buf, len, "signal %d", sig);
	return buf;
}

static void describe_end(const struct el_sup *s, char *why, size_t whylen)
{
	char name[32];
	if (WIFEXITED(s->status))
		snprintf(why, whylen, "the server exited with status %d before it was ready", WEXITSTATUS(s->status));
	else
		snprintf(why, whylen, "the server was killed by %s before it was ready",
			 el_sup_signal_name(WTERMSIG(s->status), name, sizeof(name)));
}

/* Reads what err_fd holds of the ready line: a file from its start, a pipe
 * a byte at a time up to the LF, so that what follows stays unread. Returns
 * true once a whole line is there. */
static bool read_ready(struct el_sup *s, int fd, bool is_file, size_t *n)
{
	if (is_file) {
		char text[1024];
		ssize_t r = pread(fd, text, sizeof(text) - 1, 0);
		text[r > 0 ? r : 0] = 0;
		char *nl = strchr(text, '\n');
		snprintf(s->ready, sizeof(s->ready), "%.*s", (int)(nl ? nl - text : (long)strlen(text)), text);
		return el_ready_port(text) != 0;
	}
	while (*n < sizeof(s->ready) - 1) {
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r <= 0)
			return false;
		if (ch == '\n') {
			s->ready[*n] = 0;
			return true;
		}
		s->ready[(*n)++] = ch;
		s->ready[*n] = 0;
	}
	return true;
}

bool el_sup_uses_shell(const char *cmd)
{
	return strpbrk(cmd, ";&|<>()`$\\\n'\"{}*?[~#=") != NULL || strlen(cmd) >= 8192;
}

/* In the child: its own process group, /dev/null or the spec's files as
 * its standard streams, the spec's setup and CPUs, then the server: argv,
 * or cmd. A simple command (words, no shell syntax) is run without a
 * shell, so that the process started (its signals, its exit status) is
 * the server's own, and so that valgrind, which does not follow through
 * /bin/sh, follows into it. Never returns. */
__attribute__((noreturn)) static void child_exec(const struct el_sup_spec *sp, pid_t parent)
{
	setpgid(0, 0);
	if (sp->die_with_parent) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
	}
	int null = open("/dev/null", O_RDWR);
	dup2(null, 0);
	dup2(sp->out_fd >= 0 ? sp->out_fd : null, 1);
	dup2(sp->err_fd >= 0 ? sp->err_fd : null, 2);
	signal(SIGPIPE, SIG_DFL);
	if (sp->setup)
		sp->setup(sp->setup_arg);
	if (sp->cpus && sched_setaffinity(0, sizeof(*sp->cpus), sp->cpus) < 0) {
		dprintf(2, "sched_setaffinity: %s\n", strerror(errno));
		_exit(127);
	}
	if (sp->argv) {
		execv(sp->argv[0], (char *const *)sp->argv);
		dprintf(2, "exec %s: %s\n", sp->argv[0], strerror(errno));
		_exit(127);
	}
	const char *cmd = sp->cmd;
	char line[8192];
	if (!el_sup_uses_shell(cmd)) {
		char *words[256];
		int n = 0;
		snprintf(line, sizeof(line), "%s", cmd);
		for (char *save = NULL, *w = strtok_r(line, " \t", &save); w && n < 255; w = strtok_r(NULL, " \t", &save))
			words[n++] = w;
		words[n] = NULL;
		if (n > 0) {
			execvp(words[0], words);
			dprintf(2, "exec %s: %s\n", words[0], strerror(errno));
			_exit(127);
		}
	}
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

/* Waits until the started server is ready: its ready line (with a port),
 * or its port accepting. Returns 0, or -errno with why: -ECHILD when it
 * ended first (-EOPNOTSUPP when it said its model is unavailable),
 * -ETIMEDOUT. */
static int wait_ready(struct el_sup *s, const struct el_sup_spec *sp, char *why, size_t whylen)
{
	struct stat st;
	int rfd = sp->ready_fd > 0 ? sp->ready_fd : sp->err_fd;
	bool is_file = sp->ready_line && fstat(rfd, &st) == 0 && S_ISREG(st.st_mode);
	size_t got = 0;
	int64_t t0 = mono_ms();
	char e[128] = "";
	for (int wait_ms = 2;; wait_ms = wait_ms < 50 ? wait_ms * 2 : 50) {
		if (sp->ready_line) {
			struct pollfd p = {.fd = rfd, .events = POLLIN};
			if ((is_file || poll(&p, 1, wait_ms) > 0) && read_ready(s, rfd, is_file, &got)) {
				s->port = el_ready_port(s->ready) ? el_ready_port(s->ready) : s->port;
				if (el_ready_port(s->ready))
					return 0;
			}
		} else {
			int fd = el_client_connect(s->host, s->port, 1000, e, sizeof(e));
			if (fd >= 0) {
				close(fd);
				return 0;
			}
		}
		if (!el_sup_alive(s)) {
			if (sp->ready_line && !is_file)
				read_ready(s, rfd, false, &got); /* what it said last */
			describe_end(s, why, whylen);
			if (s->ready[0]) {
				size_t l = strlen(why);
				snprintf(why + l, whylen - l, ": %s", s->ready);
			}
			kill(-s->pid, SIGKILL);
			return strstr(s->ready, " unavailable: ") ? -EOPNOTSUPP : -ECHILD;
		}
		if (mono_ms() - t0 > sp->timeout_ms) {
			if (sp->ready_line)
				snprintf(why, whylen, "no ready line from the server within %d ms (got \"%s\")",
					 sp->timeout_ms, s->ready);
			else
				snprintf(why, whylen, "the server did not accept on %s port %u within %d ms (%s)", s->host,
					 s->port, sp->timeout_ms, e);
			el_sup_stop(s, SIGTERM, true, 1000, NULL);
			return -ETIMEDOUT;
		}
		if (is_file || !sp->ready_line)
			sleep_ms(wait_ms);
	}
}

int el_sup_start(struct el_sup *s, const struct el_sup_spec *sp, char *why, size_t whylen)
{
	memset(s, 0, sizeof(*s));
	s->status = -1;
	snprintf(s->host, sizeof(s->host), "%s", sp->host ? sp->host : "127.0.0.1");
	s->port = sp->port;
	s->signal = sp->signal;
	s->signal_arg = sp->signal_arg;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		snprintf(why, whylen, "fork: %s", strerror(e));
		return -e;
	}
	if (pid == 0)
		child_exec(sp, parent);
	setpgid(pid, pid);
	s->pid = pid;
	if (!sp->ready_line && !sp->port)
		return 0;
	return wait_ready(s, sp, why, whylen);
}

int el_sup_start_cmd(struct el_sup *s, const char *cmd, const char *host, unsigned port,
		     const char *out_path, const char *err_path, int timeout_ms, char *why, size_t whylen)
{
	return el_sup_start_cmd_on(s, cmd, host, port, out_path, err_path, timeout_ms, NULL, why, whylen);
}

int el_sup_start_cmd_on(struct el_sup *s, const char *cmd, const char *host, unsigned port,
			const char *out_path, const char *err_path, int timeout_ms, const cpu_set_t *cpus,
			char *why, size_t whylen)
{
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
	struct el_sup_spec sp = {.cmd = cmd, .out_fd = out, .err_fd = err, .host = host, .port = port,
				 .timeout_ms = timeout_ms, .cpus = cpus};
	int rc = el_sup_start(s, &sp, why, whylen);
	close(out);
	close(err);
	return rc;
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

int el_sup_signal(struct el_sup *s, int sig, bool group)
{
	if (s->pid <= 0 || !el_sup_alive(s))
		return -ESRCH;
	if (s->signal)
		return s->signal(s->signal_arg, sig) > 0 ? 0 : -ESRCH;
	return kill(group ? -s->pid : s->pid, sig) < 0 ? -errno : 0;
}

int el_sup_wait(struct el_sup *s, int grace_ms, int *left)
{
	if (left)
		*left = 0;
	if (s->pid <= 0)
		return -1;
	int rc = -1;
	for (int ms = 0; ms < grace_ms && el_sup_alive(s); ms += 10)
		sleep_ms(10);
	if (!el_sup_alive(s))
		rc = s->status;
	/* Whatever the group still holds (workers the leader left), or the
	 * processes the signal hook reaches. */
	if (s->signal)
		s->signal(s->signal_arg, SIGKILL);
	kill(-s->pid, SIGKILL);
	if (rc < 0)
		waitpid(s->pid, &s->status, 0);
	int n = 0;
	for (int ms = 0; ms < 2000; ms += 10) {
		n = el_sup_group_size(s->pid);
		if (s->signal)
			n += s->signal(s->signal_arg, SIGKILL);
		if (n <= 0)
			break;
		sleep_ms(10);
	}
	if (left)
		*left = n > 0 ? n : 0;
	s->pid = 0;
	return rc;
}

int el_sup_stop(struct el_sup *s, int sig, bool group, int grace_ms, int *left)
{
	el_sup_signal(s, sig, group);
	return el_sup_wait(s, grace_ms, left);
}

int el_sup_usage(pid_t root, struct el_sup_usage *u)
{
	struct el_monitor m;
	int rc = el_monitor_init(&m, root);
	if (rc < 0)
		return rc;
	m.detail_budget_us = 0;
	struct el_proc_sample smp;
	rc = el_monitor_sample(&m, &smp);
	el_monitor_destroy(&m);
	if (rc < 0)
		return rc;
	*u = (struct el_sup_usage){smp.procs, smp.threads, smp.fds, smp.rss_kib, smp.pss_kib};
	return 0;
}
