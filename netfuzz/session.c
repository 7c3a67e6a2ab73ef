/* The network fuzzer's session: the server started, its baseline taken,
 * the run, then the server checked for life, growth and a clean stop. */
#include "netfuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "io.h"
#include "procstat.h"
#include "supervise.h"
void el_nf_session_defaults(struct el_nf_session_opts *o)
{
	*o = (struct el_nf_session_opts){
		.warmup_s = 2,
		.check_rss = true,
		.rss_slack = 0.20,
		.rss_slack_kib = 8192,
		.settle_ms = 5000,
	};
	el_nf_defaults(&o->fuzz);
	o->fuzz.duration_s = 6;
}

struct server {
	struct el_sup sup;
	int err_fd; /* its stderr: an unlinked file */
};

/* The last lines of the server's stderr, for a failure message. */
static void server_stderr(const struct server *sv, char *out, size_t size)
{
	off_t end = lseek(sv->err_fd, 0, SEEK_END);
	off_t from = end > (off_t)size - 1 ? end - (off_t)size + 1 : 0;
	ssize_t n = pread(sv->err_fd, out, size - 1, from);
	out[n > 0 ? n : 0] = 0;
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = '|';
}

static void preload(void *arg)
{
	if (arg)
		setenv("LD_PRELOAD", arg, 1);
}

static int server_spawn(const struct el_nf_session_opts *o, struct server *sv, char *why, size_t wl)
{
	char tmpl[] = "/tmp/echolab-netfuzz.XXXXXX";
	sv->err_fd = mkstemp(tmpl);
	if (sv->err_fd < 0) {
		snprintf(why, wl, "mkstemp: %s", strerror(errno));
		return -errno;
	}
	unlink(tmpl);
	char max_line[32];
	snprintf(max_line, sizeof(max_line), "%zu", o->fuzz.max_line);
	const char *argv[] = {o->server, "--model", o->model, "--port", "0", "--backlog", "1024",
			      "--max-line", max_line, NULL};
	/* The fault suites preload their shim into the server alone. */
	struct el_sup_spec sp = {.argv = argv, .out_fd = -1, .err_fd = sv->err_fd, .setup = preload,
				 .setup_arg = (void *)o->preload, .ready_line = true, .timeout_ms = 20000};
	return el_sup_start(&sv->sup, &sp, why, wl);
}

static int usage(pid_t pid, struct el_nf_usage *u)
{
	struct el_sup_usage su;
	int rc = el_sup_usage(pid, &su);
	if (rc == 0)
		*u = (struct el_nf_usage){su.procs, su.threads, su.fds, su.rss_kib};
	return rc;
}

static void session_fail(struct el_nf_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void session_fail(struct el_nf_session *s, const char *fmt, ...)
{
	if (!s->ok)
		return; /* the first reason is the one to read */
	s->ok = false;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

static bool alive(struct server *sv)
{
	return el_sup_alive(&sv->sup);
}

static void describe_exit(int status, char *out, size_t size)
{
	char name[32];
	if (WIFSIGNALED(status))
		snprintf(out, size, "killed by %s (%s)", el_sup_signal_name(WTERMSIG(status), name, sizeof(name)),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, size, "exit status %d", WEXITSTATUS(status));
}

/* The baseline: the server's usage once the warm-up's connections are
 * gone (the same twice in a row, or settle_ms passed). */
static void take_baseline(const struct el_nf_session_opts *o, struct el_nf_session *s, struct server *sv)
{
	int64_t settle = el_io_now_ms() + o->settle_ms;
	struct el_nf_usage prev = {-1, -1, -1, -1};
	while (s->ok && alive(sv)) {
		if (usage(sv->sup.pid, &s->baseline) < 0) {
			/* Without a baseline the check after the run proves
			 * nothing: that fails the session, never skips it. */
			if (alive(sv))
				session_fail(s, "cannot read the server's process tree in /proc for the baseline");
			return;
		}
		if ((s->baseline.procs == prev.procs && s->baseline.threads == prev.threads &&
		     s->baseline.fds == prev.fds) ||
		    el_io_now_ms() > settle)
			return;
		prev = s->baseline;
		usleep(200000);
	}
}

/* Back to the baseline within settle_ms of the run's last connection:
 * processes, threads, fds, and RSS within its slack. */
static void check_back(const struct el_nf_session_opts *o, struct el_nf_session *s, struct server *sv)
{
	long rss_limit = s->baseline.rss_kib +
			 (long)((double)s->baseline.rss_kib * o->rss_slack > (double)o->rss_slack_kib
					? (double)s->baseline.rss_kib * o->rss_slack
					: (double)o->rss_slack_kib);
	int64_t settle = el_io_now_ms() + o->settle_ms;
	for (;;) {
		if (usage(sv->sup.pid, &s->after) < 0) {
			if (alive(sv))
				session_fail(s, "cannot read the server's process tree in /proc after the run");
			return;
		}
		bool back = s->after.procs == s->baseline.procs && s->after.threads == s->baseline.threads &&
			    s->after.fds == s->baseline.fds && (!o->check_rss || s->after.rss_kib <= rss_limit);
		if (back)
			return;
		if (el_io_now_ms() > settle) {
			session_fail(s,
				     "not back to the baseline %d ms after the last connection: "
				     "processes %ld -> %ld, threads %ld -> %ld, fds %ld -> %ld, "
				     "RSS %ld -> %ld KiB (limit %ld)",
				     o->settle_ms, s->baseline.procs, s->after.procs, s->baseline.threads,
				     s->after.threads, s->baseline.fds, s->after.fds, s->baseline.rss_kib,
				     s->after.rss_kib, rss_limit);
			return;
		}
		usleep(100000);
	}
}

/* A clean stop: exit status 0 after SIGTERM, nothing of its group left. */
static void check_stop(const struct el_nf_session_opts *o, struct el_nf_session *s, struct server *sv)
{
	char text[400], how[128];
	el_sup_signal(&sv->sup, SIGTERM, false);
	int left = 0;
	int st = el_sup_wait(&sv->sup, o->settle_ms, &left);
	if (st < 0) {
		session_fail(s, "the server did not exit within %d ms of SIGTERM", o->settle_ms);
	} else {
		s->server_exit = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (s->server_exit != 0) {
			describe_exit(st, how, sizeof(how));
			server_stderr(sv, text, sizeof(text));
			session_fail(s, "after SIGTERM the server ended with %s: %s", how, text);
		}
	}
	if (left)
		session_fail(s, "processes of the server's group outlived it");
}

int el_nf_session(const struct el_nf_session_opts *o, struct el_nf_session *s)
{
	memset(s, 0, sizeof(*s));
	s->ok = true;
	s->server_exit = -1;
	struct server sv = {.err_fd = -1};
	int rc = server_spawn(o, &sv, s->why, sizeof(s->why));
	if (rc < 0) {
		s->ok = false;
		if (sv.sup.pid > 0)
			el_sup_stop(&sv.sup, SIGKILL, true, 0, NULL);
		if (sv.err_fd >= 0)
			close(sv.err_fd);
		return rc;
	}
	struct el_nf_opts f = o->fuzz;
	f.port = sv.sup.port;
	/* The warm-up: the server's allocator and thread caches reach their
	 * working size, so the baseline after it is the one to come back to. */
	f.duration_s = o->warmup_s;
	f.seed = o->fuzz.seed ^ 0x5eed5eed5eedULL; /* other streams than the run's */
	rc = o->warmup_s > 0 ? el_nf_run(&f, &s->warmup) : 0;
	if (rc < 0)
		session_fail(s, "netfuzz could not run: %s", s->warmup.first);
	else if (s->warmup.failures)
		session_fail(s, "warm-up: %ld connections broke the protocol; the first: %s", s->warmup.failures,
			     s->warmup.first);
	take_baseline(o, s, &sv);
	bool stopped = o->fuzz.stop && *o->fuzz.stop;
	if (s->ok && alive(&sv) && !stopped) {
		f.duration_s = o->fuzz.duration_s;
		f.seed = o->fuzz.seed;
		rc = el_nf_run(&f, &s->run);
		if (rc < 0)
			session_fail(s, "netfuzz could not run: %s", s->run.first);
		else if (s->run.failures)
			session_fail(s, "%ld of %ld connections broke the protocol; the first: %s", s->run.failures,
				     s->run.connections, s->run.first);
	}
	stopped = o->fuzz.stop && *o->fuzz.stop;
	if (!alive(&sv)) {
		char text[400], how[128];
		describe_exit(sv.sup.status, how, sizeof(how));
		server_stderr(&sv, text, sizeof(text));
		session_fail(s, "the server died (%s): %s", how, text);
	} else if (s->ok && !stopped) {
		check_back(o, s, &sv);
	}
	if (alive(&sv))
		check_stop(o, s, &sv);
	close(sv.err_fd);
	return 0;
}

