#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "io.h"
#include "reply.h"

static const char *server_path(void)
{
	const char *p = getenv("ECHOLAB_SERVER");
	cr_assert_not_null(p, "ECHOLAB_SERVER is not set (run the suite through meson test)");
	return p;
}

static void params_free(struct criterion_test_params *crp)
{
	cr_free(crp->params);
}

/* ECHOLAB_MODELS=a,b (the ThreadSanitizer run) narrows the models; unset,
 * every model. */
static bool model_selected(const char *model)
{
	const char *only = getenv("ECHOLAB_MODELS");
	if (!only || !*only)
		return true;
	size_t len = strlen(model);
	for (const char *p = only; p && *p; p = strchr(p, ','), p = p ? p + 1 : NULL)
		if (strncmp(p, model, len) == 0 && (p[len] == ',' || p[len] == '\0'))
			return true;
	return false;
}

struct criterion_test_params th_model_params(void)
{
	enum { MAX = 16 };
	struct th_model_param *params = cr_malloc(sizeof(*params) * MAX);
	struct el_model_info models[MAX];
	char error[160] = "";
	int listed = el_models_list(server_path(), models, MAX, error, sizeof(error));
	size_t n = 0;
	for (int i = 0; i < listed; i++) {
		if (!model_selected(models[i].name))
			continue;
		memset(&params[n], 0, sizeof(params[n]));
		snprintf(params[n].name, sizeof(params[n].name), "%s", models[i].name);
		params[n].traits = models[i].traits;
		params[n].index = (int)n;
		n++;
	}
	/* A per-model suite with no model would pass with nothing tested: a
	 * name in ECHOLAB_MODELS that --list-models does not print, a list
	 * the server could not give (or gave with a trait nobody knows), or
	 * no model at all, makes every per-model test one failing case
	 * instead. */
	const char *only = getenv("ECHOLAB_MODELS");
	for (const char *m = only; listed > 0 && m && *m; m = strchr(m, ','), m = m ? m + 1 : NULL) {
		char name[40];
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(m, ","), m);
		if (!el_models_find(models, listed, name))
			snprintf(error, sizeof(error), "ECHOLAB_MODELS names %s, which --list-models does not print",
				 name);
	}
	if (n == 0 && !error[0])
		snprintf(error, sizeof(error), "no model to test: %.100s --list-models printed none", server_path());
	if (error[0]) {
		memset(&params[0], 0, sizeof(params[0]));
		snprintf(params[0].name, sizeof(params[0].name), "none");
		snprintf(params[0].error, sizeof(params[0].error), "%s", error);
		n = 1;
	}
	return cr_make_param_array(struct th_model_param, params, n, params_free);
}

const char *harness_model = "server";
const struct th_model_param *harness_param;

bool th_model_has(const struct th_model_param *p, enum el_trait trait)
{
	return (p->traits & trait) != 0;
}

bool th_model_is_sequential(const struct th_model_param *p)
{
	return th_model_has(p, EL_TRAIT_SEQUENTIAL);
}

void th_raise_nofile(void)
{
	el_cli_raise_nofile(0);
}

int th_slow_factor(void)
{
	if (getenv("ECHOLAB_UNDER_VALGRIND"))
		return 20;
	if (getenv("ECHOLAB_UNDER_ASAN") || getenv("ECHOLAB_UNDER_TSAN"))
		return 3;
	return 1;
}

/* In the server's process, before exec: the test's environment entry,
 * the fault shim (the fault suite preloads it into the server alone), the
 * fd limit. */
static void server_setup(void *arg)
{
	const struct th_server_opts *o = arg;
	if (o && o->env)
		putenv((char *)o->env);
	const char *preload = getenv("ECHOLAB_SERVER_PRELOAD");
	if (preload && *preload)
		setenv("LD_PRELOAD", preload, 1);
	if (o && o->nofile > 0) {
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		/* Hard limit too: the server raises its soft limit to the hard
		 * one at start. */
		rl.rlim_cur = rl.rlim_max = (rlim_t)o->nofile;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Starts argv through the supervisor, in its own process group, killed if
 * the test dies; with ready, waits for the ready line on err_fd (a pipe). */
static void spawn_with(struct th_server *s, const char **argv, int out_fd, int err_fd, int ready_fd,
		       const struct th_server_opts *o, bool ready)
{
	struct el_sup_spec sp = {.argv = argv, .out_fd = out_fd, .err_fd = err_fd, .setup = server_setup,
				 .setup_arg = (void *)o, .die_with_parent = true, .ready_line = ready,
				 .ready_fd = ready_fd,
				 .timeout_ms = 10000 * th_slow_factor()};
	char why[512];
	int rc = el_sup_start(&s->sup, &sp, why, sizeof(why));
	/* A model this system cannot run (io_uring disabled by the kernel or
	 * seccomp) is skipped with the server's reason, never passed. */
	if (rc == -EOPNOTSUPP)
		cr_skip_test("%s", s->sup.ready);
	cr_assert_eq(rc, 0, "%s: %s", harness_model, why);
	s->pid = s->sup.pid;
	if (!ready)
		return;
	snprintf(s->ready, sizeof(s->ready), "%s", s->sup.ready);
	const char *model = strstr(s->ready, " model=");
	cr_assert(strncmp(s->ready, "listening on ", 13) == 0 && model, "%s: bad ready line: %s", harness_model,
		  s->ready);
	s->port = s->sup.port;
	cr_assert_gt(s->port, 0, "%s: no port in the ready line: %s", harness_model, s->ready);
}

static void server_vstart(struct th_server *s, const struct th_server_opts *o, const char *model,
			  va_list ap)
{
	const char *argv[64] = {server_path(), "--model", model, "--port", "0"};
	size_t n = 5;
	const char *a;
	while ((a = va_arg(ap, const char *)) && n < 62)
		argv[n++] = a;
	/* A later --port overrides the first. */
	argv[n] = NULL;

	memset(s, 0, sizeof(*s));
	snprintf(s->log_path, sizeof(s->log_path), "/tmp/echolab-log-XXXXXX");
	int log_fd = mkstemp(s->log_path);
	cr_assert_geq(log_fd, 0, "mkstemp: %s", strerror(errno));
	if (o && o->closed_log) {
		int p[2];
		cr_assert_eq(pipe(p), 0);
		close(p[0]);
		dup2(p[1], log_fd);
		close(p[1]);
	}
	int errp[2];
	cr_assert_eq(pipe2(errp, O_CLOEXEC), 0);
	/* The file goes at once; the harness keeps reading it through log_fd. */
	unlink(s->log_path);
	s->log_fd = log_fd;
	s->stderr_fd = errp[0];
	spawn_with(s, argv, log_fd, errp[1], errp[0], o, true);
	close(errp[1]);
}

void th_server_start(struct th_server *s, const char *model, ...)
{
	va_list ap;
	va_start(ap, model);
	server_vstart(s, NULL, model, ap);
	va_end(ap);
}

void th_server_start_with(struct th_server *s, const struct th_server_opts *o, const char *model, ...)
{
	va_list ap;
	va_start(ap, model);
	server_vstart(s, o, model, ap);
	va_end(ap);
}

static long status_field(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	FILE *f = fopen(path, "r");
	long v = 0;
	size_t klen = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0)
			v = atol(line + klen);
	if (f)
		fclose(f);
	return v;
}

/* Reads /proc/NAME/stat into buf when NAME is a process of group pgid.
 * Returns the text from its state field on ("pid (comm) state ppid pgrp
 * ...": comm may hold spaces), or NULL. */
static const char *group_stat(const char *name, pid_t pgid, char *buf, size_t size)
{
	if (name[0] < '1' || name[0] > '9')
		return NULL;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%.16s/stat", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	char state;
	long ppid, pgrp;
	if (!p || sscanf(p + 2, "%c %ld %ld", &state, &ppid, &pgrp) != 3 || pgrp != pgid)
		return NULL;
	return p + 2;
}

void th_server_usage(const struct th_server *s, struct th_server_usage *u)
{
	memset(u, 0, sizeof(*u));
	long page_kib = sysconf(_SC_PAGESIZE) / 1024;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char buf[1024];
		const char *p = group_stat(e->d_name, s->pid, buf, sizeof(buf));
		if (!p)
			continue;
		char state = *p;
		/* Fields from state (3rd): utime 14th, stime 15th, threads 20th,
		 * rss 24th. */
		long v[22] = {0};
		const char *q = p;
		for (int i = 0; i < 22 && q; i++) {
			v[i] = atol(q);
			q = strchr(q, ' ');
			if (q)
				q++;
		}
		pid_t pid = (pid_t)atoi(e->d_name);
		u->procs++;
		u->zombies += state == 'Z';
		u->cpu_ticks += v[11] + v[12];
		u->threads += v[17];
		u->rss_kib += v[21] * page_kib;
		u->pss_kib += status_field(pid, "smaps_rollup", "Pss:");
	}
	if (d)
		closedir(d);
	char fddir[64];
	snprintf(fddir, sizeof(fddir), "/proc/%d/fd", (int)s->pid);
	d = opendir(fddir);
	while (d && (e = readdir(d)))
		u->fds += e->d_name[0] != '.';
	if (d)
		closedir(d);
}

/* True while a process of the group still runs; a zombie does not count
 * (el_sup_group_size): the orphans of a killed server are reaped by pid 1,
 * which in some containers (this machine's) does so late. */
static bool group_alive(pid_t pgid)
{
	return el_sup_group_size(pgid) != 0;
}

void th_server_stop(struct th_server *s, int sig)
{
	th_server_signal(s, sig);
	th_server_wait(s, sig);
}

void th_server_signal(struct th_server *s, int sig)
{
	/* A server that already ended by itself is the failure to report,
	 * with how it ended and what it said on stderr. */
	int status;
	if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
		char err[2048];
		size_t n = 0;
		int fl = fcntl(s->stderr_fd, F_GETFL);
		fcntl(s->stderr_fd, F_SETFL, fl | O_NONBLOCK);
		ssize_t r;
		while (n + 1 < sizeof(err) && (r = read(s->stderr_fd, err + n, sizeof(err) - 1 - n)) > 0)
			n += (size_t)r;
		err[n] = '\0';
		cr_assert_fail("%s: the server ended before it was signalled (%s %d); stderr: %s",
			       harness_model, WIFEXITED(status) ? "status" : "signal",
			       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), err);
	}
	cr_assert_eq(kill(s->pid, sig), 0, "%s: server already gone: %s", harness_model, strerror(errno));
}

/* Where each of a process's threads is: "tid state wchan syscall", for a
 * server that did not stop in time. */
static void thread_states(pid_t pid, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	char path[320];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d)) && n + 1 < cap;) {
		if (e->d_name[0] == '.')
			continue;
		char field[3][128] = {"?", "?", "?"};
		const char *file[3] = {"stat", "wchan", "syscall"};
		for (int i = 0; i < 3; i++) {
			snprintf(path, sizeof(path), "/proc/%d/task/%s/%s", (int)pid, e->d_name, file[i]);
			FILE *f = fopen(path, "r");
			if (!f)
				continue;
			if (!fgets(field[i], sizeof(field[i]), f))
				field[i][0] = '\0';
			fclose(f);
			field[i][strcspn(field[i], "\n")] = '\0';
		}
		/* The state follows the command's closing parenthesis. */
		char *paren = strrchr(field[0], ')');
		char state = paren && paren[1] == ' ' ? paren[2] : '?';
		char *sp = strchr(field[2], ' ');
		if (sp)
			*sp = '\0';
		int w = snprintf(out + n, cap - n, "%s[%s %c %s syscall %s]", n ? " " : "", e->d_name, state,
				 field[1], field[2]);
		n += w > 0 ? (size_t)w : 0;
	}
	closedir(d);
}

/* How long the threads of pid have waited for a CPU, summed (schedstat's
 * run_delay), in milliseconds; 0 where the kernel does not say. A thread
 * that exited counts with what it had waited when last seen here, so that
 * the sum never goes back: summed over the live threads only, a server
 * whose workers exit at a stop showed "-2278 ms" waited, and a deadline
 * moved back by that. */
int64_t th_waited_for_cpu_ms(pid_t pid)
{
	static struct {
		pid_t pid, tid;
		unsigned long long waited;
	} seen[1024];
	static size_t nseen;
	char path[320];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (d) {
		for (struct dirent *e; (e = readdir(d));) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
			FILE *f = fopen(path, "r");
			unsigned long long ran, waited;
			bool got = f && fscanf(f, "%llu %llu", &ran, &waited) == 2;
			if (f)
				fclose(f);
			if (!got)
				continue;
			pid_t tid = (pid_t)atoi(e->d_name);
			size_t i = 0;
			while (i < nseen && (seen[i].pid != pid || seen[i].tid != tid))
				i++;
			if (i == nseen && nseen < sizeof(seen) / sizeof(seen[0]))
				seen[nseen++] = (typeof(seen[0])){pid, tid, 0};
			if (i < nseen && waited > seen[i].waited)
				seen[i].waited = waited;
		}
		closedir(d);
	}
	unsigned long long sum = 0;
	for (size_t i = 0; i < nseen; i++)
		if (seen[i].pid == pid)
			sum += seen[i].waited;
	return (int64_t)(sum / 1000000);
}

void th_server_wait(struct th_server *s, int sig)
{
	int64_t start = el_io_now_ms();
	int64_t deadline = start + 2000LL * th_slow_factor();
	/* 2 s of the server's own time: a machine that kept its threads
	 * waiting for a CPU (a fork-heavy suite beside this one left a loop
	 * runnable but unrun past the bound) moves the deadline by that
	 * wait, up to 30 s in all. */
	int64_t waited0 = th_waited_for_cpu_ms(s->pid), waited = 0;
	int status = 0;
	pid_t rc;
	for (;;) {
		rc = waitpid(s->pid, &status, WNOHANG);
		int64_t now = el_io_now_ms();
		if (rc != 0)
			break;
		if (now >= deadline) {
			waited = th_waited_for_cpu_ms(s->pid) - waited0;
			if (now >= start + 2000LL * th_slow_factor() + waited || now >= start + 30000)
				break;
		}
		usleep(5000);
	}
	if (rc == 0) {
		char threads[1024];
		thread_states(s->pid, threads, sizeof(threads));
		/* Where each thread was, to the test's log: a hang seen once in a
		 * full run (a loop thread running, not in a syscall, 2 s after
		 * the stop) is then explained by its first occurrence, not by
		 * twenty runs of a hunt. ECHOLAB_HANG_CMD replaces gdb. */
		char cmd[256];
		const char *hang = getenv("ECHOLAB_HANG_CMD");
		if (hang)
			snprintf(cmd, sizeof(cmd), "%s %d 2>&1", hang, (int)s->pid);
		else
			snprintf(cmd, sizeof(cmd),
				 "command -v gdb >/dev/null && gdb -p %d -batch -q -ex 'thread apply all bt' "
				 "</dev/null 2>&1 | grep -E '^(Thread|#)'",
				 (int)s->pid);
		/* Into the failure's own message: Criterion keeps no test's
		 * stderr (a hunt's hang printed its stacks there, and lost them). */
		char stacks[6144] = "";
		FILE *p = popen(cmd, "r");
		if (p) {
			size_t n = fread(stacks, 1, sizeof(stacks) - 1, p);
			stacks[n] = 0;
			pclose(p);
		}
		kill(-s->pid, SIGKILL);
		waitpid(s->pid, &status, 0);
		cr_assert_fail("%s: server did not exit within %d ms of signal %d (and the %lld ms its threads "
			       "waited for a CPU); its threads: %s; where they were (%s):\n%s",
			       harness_model, 2000 * th_slow_factor(), sig, (long long)waited, threads,
			       hang ? hang : "gdb", stacks[0] ? stacks : "nothing: no gdb, or it could not attach");
	}
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "%s: server exit after signal %d: %s %d", harness_model, sig,
		  WIFEXITED(status) ? "status" : "killed by signal",
		  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	/* Every process of the server's group (forked children) is gone too;
	 * give the kernel a moment to reap what init adopted. */
	int64_t gone = el_io_now_ms() + 500;
	while (group_alive(s->pid) && el_io_now_ms() < gone)
		usleep(5000);
	cr_assert(!group_alive(s->pid), "%s: processes of the server's group outlived it", harness_model);
	close(s->stderr_fd);
}

void th_server_kill(struct th_server *s)
{
	cr_assert_eq(kill(s->pid, SIGKILL), 0, "%s: server already gone: %s", harness_model,
		     strerror(errno));
	waitpid(s->pid, NULL, 0);
	int64_t gone = el_io_now_ms() + 2000LL * th_slow_factor();
	while (group_alive(s->pid) && el_io_now_ms() < gone)
		usleep(5000);
	bool alive = group_alive(s->pid);
	if (alive)
		kill(-s->pid, SIGKILL);
	close(s->stderr_fd);
	cr_assert(!alive, "%s: processes of the server's group outlived its SIGKILL by %d ms",
		  harness_model, 2000 * th_slow_factor());
}

int th_server_run(char *err, size_t errlen, const char *arg, ...)
{
	const char *argv[64] = {server_path()};
	size_t n = 1;
	va_list ap;
	va_start(ap, arg);
	for (const char *a = arg; a && n < 62; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;

	int errp[2];
	cr_assert_eq(pipe2(errp, O_CLOEXEC), 0);
	struct th_server run;
	memset(&run, 0, sizeof(run));
	spawn_with(&run, argv, -1, errp[1], 0, NULL, false);
	pid_t pid = run.pid;
	close(errp[1]);
	size_t len = 0;
	ssize_t r;
	while (len < errlen - 1 && (r = read(errp[0], err + len, errlen - 1 - len)) > 0)
		len += (size_t)r;
	err[len] = '\0';
	close(errp[0]);
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

char *th_server_log(const struct th_server *s, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while ((r = pread(s->log_fd, buf + n, cap - n - 1, (off_t)n)) > 0) {
		n += (size_t)r;
		if (n + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

long th_server_pss_kib(const struct th_server *s)
{
	struct th_server_usage u;
	th_server_usage(s, &u);
	return u.pss_kib;
}

void th_client_adopt(struct th_client *c, int fd)
{
	c->fd = fd;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	char addr[EL_ADDR_STRLEN];
	el_addr_format((struct sockaddr *)&ss, addr, &c->local_port);
	cr_assert_eq(el_lines_init(&c->lines, fd, 4 << 20), 0);
}

void th_client_open_host(struct th_client *c, const char *host, unsigned port)
{
	char err[256];
	int fd = el_client_connect(host, port, 5000 * th_slow_factor(), err, sizeof(err));
	cr_assert_geq(fd, 0, "%s: %s", harness_model, err);
	th_client_adopt(c, fd);
}

void th_client_open(struct th_client *c, const struct th_server *s)
{
	th_client_open_host(c, "127.0.0.1", s->port);
}

void th_client_close(struct th_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	el_lines_finish(&c->lines);
}

void th_client_reset(struct th_client *c)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	th_client_close(c);
}

void th_client_send(struct th_client *c, const void *data, size_t len)
{
	int rc = el_io_write_all(c->fd, data, len, el_io_now_ms() + 10000LL * th_slow_factor());
	cr_assert_eq(rc, 0, "%s: send: %s", harness_model, strerror(-rc));
}

void th_client_send_str(struct th_client *c, const char *text)
{
	th_client_send(c, text, strlen(text));
}

ssize_t th_client_try_line(struct th_client *c, uint8_t **line, int timeout_ms)
{
	const uint8_t *l;
	size_t rest = 0;
	ssize_t n = el_lines_next(&c->lines, &l, &rest,
				  el_io_now_ms() + (int64_t)timeout_ms * th_slow_factor());
	if (n == 0 && rest > 0)
		cr_assert_fail("%s: unterminated line at EOF: \"%.*s\"", harness_model, (int)rest, l);
	if (n > 0) {
		*line = malloc((size_t)n + 1);
		memcpy(*line, l, (size_t)n);
		(*line)[n] = '\0';
	}
	return n;
}

size_t th_client_line(struct th_client *c, uint8_t **line, int timeout_ms)
{
	ssize_t n = th_client_try_line(c, line, timeout_ms);
	cr_assert_gt(n, 0, "%s: no reply line: %s", harness_model, n == 0 ? "the server closed the connection" : strerror((int)-n));
	return (size_t)n;
}

void th_client_expect_echo(struct th_client *c, const void *msg, size_t len)
{
	th_client_expect_echo_within(c, msg, len, 5000);
}

void th_client_expect_echo_within(struct th_client *c, const void *msg, size_t len, int timeout_ms)
{
	uint8_t *line;
	size_t n = th_client_line(c, &line, timeout_ms);
	struct el_reply r;
	int rc = el_reply_parse(line, n, &r);
	cr_assert_eq(rc, 0, "%s: %s: \"%s\"", harness_model, el_reply_strerror(rc), line);
	cr_assert(r.msg_len == len && memcmp(r.msg, msg, len) == 0, "%s: echo of %zu bytes differs: \"%s\"", harness_model,
		  len, line);
	cr_assert_eq(r.port, c->local_port, "%s: PORT %u is not the client's port %u", harness_model, r.port, c->local_port);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	cr_assert(r.time.tv_sec >= now.tv_sec - 5L * th_slow_factor() && r.time.tv_sec <= now.tv_sec + 1,
		  "%s: TIME is not now: %s", harness_model, line);
	free(line);
}

void th_client_expect_eof(struct th_client *c, int timeout_ms)
{
	uint8_t *line = NULL;
	ssize_t n = th_client_try_line(c, &line, timeout_ms);
	cr_assert_neq(n, -ECONNRESET, "%s: the server reset the connection instead of closing it", harness_model);
	cr_assert_neq(n, -ETIMEDOUT, "%s: the server did not close the connection in time", harness_model);
	cr_assert_eq(n, 0, "%s: expected EOF, got \"%s\"", harness_model, n > 0 ? (char *)line : strerror((int)-n));
}

/* One read(2) from fd into buf (at most len - 1 bytes kept, the rest read
 * and dropped). Returns what read(2) returned. */
static ssize_t slurp_fd(int fd, char *buf, size_t len, size_t *n)
{
	char sink[4096];
	ssize_t r;
	if (*n < len - 1) {
		r = read(fd, buf + *n, len - 1 - *n);
		if (r > 0)
			*n += (size_t)r;
	} else {
		r = read(fd, sink, sizeof(sink));
	}
	buf[*n] = '\0';
	return r;
}

int th_run_program(const char *path, const char *input, char *out, size_t outlen, char *err,
		size_t errlen, const char *arg, ...)
{
	const char *argv[64] = {path};
	size_t n = 1;
	va_list ap;
	va_start(ap, arg);
	for (const char *a = arg; a && n < 62; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;

	int in[2], o[2], e[2];
	cr_assert(pipe2(in, O_CLOEXEC) == 0 && pipe2(o, O_CLOEXEC) == 0 && pipe2(e, O_CLOEXEC) == 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(o[1], STDOUT_FILENO);
		dup2(e[1], STDERR_FILENO);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(o[1]);
	close(e[1]);
	if (input)
		el_io_write_all(in[1], input, strlen(input), -1);
	close(in[1]);
	size_t lens[2] = {0, 0};
	char *bufs[2] = {out, err};
	size_t caps[2] = {outlen, errlen};
	out[0] = err[0] = '\0';
	struct pollfd pfds[2] = {{.fd = o[0], .events = POLLIN}, {.fd = e[0], .events = POLLIN}};
	int64_t deadline = el_io_now_ms() + 30000LL * th_slow_factor();
	while ((pfds[0].fd >= 0 || pfds[1].fd >= 0) && el_io_poll(pfds, 2, deadline, true) > 0) {
		for (int i = 0; i < 2; i++) {
			if (pfds[i].fd >= 0 && pfds[i].revents &&
			    slurp_fd(pfds[i].fd, bufs[i], caps[i], &lens[i]) <= 0) {
				close(pfds[i].fd);
				pfds[i].fd = -1;
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		if (pfds[i].fd >= 0) {
			close(pfds[i].fd);
			kill(pid, SIGKILL);
		}
	}
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
