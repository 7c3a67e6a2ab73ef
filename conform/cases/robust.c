/* The robust cases: hostile and broken clients; the server serves on.
 * Each case is a row of cases.def. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cases.h"
#include "cli.h"
#include "io.h"
#include "netfuzz.h"

/* --- robust ----------------------------------------------------------- */

void el_case_reset_mid_reply(struct el_conf_ctx *x)
{
	for (int round = 0; round < 20; round++) {
		struct el_conf_client *a = cf_open(x);
		cf_roundtrip(x, a, "before reset");
		/* Replies due and bytes unread both ways, then RST. */
		cf_send_str(x, a, x->o->raw ? "x y z partial" : "x\ny\nz\npartial");
		cf_reset(x, a);
	}
	cf_fresh_client_served(x);
}

/* The resident memory of the started server's process tree, KiB (-1:
 * unknown). */
static long tree_rss(struct el_conf_ctx *x)
{
	struct el_sup_usage u;
	return x->sup && el_sup_usage(x->sup->pid, &u) == 0 ? u.rss_kib : -1;
}

void el_case_never_reads(struct el_conf_ctx *x)
{
	cf_fresh_client_served(x); /* warm up */
	long base = tree_rss(x);
	struct el_conf_client *a = cf_open(x);
	el_io_set_nonblock(a->fd, true);
	char chunk[64 * 1024];
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = i % 64 == 63 ? '\n' : 'a';
	size_t sent = 0, cap = 64u << 20;
	int64_t stalled = el_io_now_ms();
	cf_note(x, "c%d > 63-byte messages without reading a reply, until the server stops reading", a->n);
	while (sent < cap && el_io_now_ms() - stalled < 1000) {
		ssize_t n = el_io_write(a->fd, chunk, sizeof(chunk));
		if (n > 0) {
			sent += (size_t)n;
			stalled = el_io_now_ms();
		} else {
			cf_sleep_ms(10);
		}
	}
	cf_note(x, "c%d > %zu KiB accepted before the server stopped reading", a->n, sent >> 10);
	if (sent >= cap)
		cf_fail(x, "the server read 64 MiB from a client that reads none of its replies");
	long grown = base >= 0 ? tree_rss(x) - base : -1;
	/* Unbounded buffering grows by the whole flood; a forked child's first
	 * writes under valgrind copy its shadow memory too. */
	long bound = (x->o->slow > 1 ? 128 : 16) * 1024;
	if (grown > bound)
		cf_fail(x, "the server's memory grew %ld KiB for one client that does not read", grown);
	struct el_conf_client *b = cf_open(x);
	const char *msg = "next";
	if (x->o->raw)
		cf_send(x, b, msg, 4);
	else
		cf_send_str(x, b, "next\n");
	struct pollfd p = {.fd = b->fd, .events = POLLIN};
	bool meanwhile = el_io_poll(&p, 1, el_io_now_ms() + cf_ms(x, 1000), true) > 0;
	if (!meanwhile) {
		cf_note(x, "(no reply while the flooder stays: reset it, as a sequential server serves one)");
		cf_reset(x, a);
	}
	if (x->o->raw)
		cf_expect_bytes(x, b, msg, 4);
	else
		cf_expect_echo_str(x, b, msg);
	cf_close(x, b);
	if (meanwhile)
		cf_reset(x, a);
	if (grown >= 0)
		cf_note(x, "server memory grew %ld KiB", grown);
}

void el_case_slowloris(struct el_conf_ctx *x)
{
	/* {idle_timeout} 1: connections that never send are all closed,
	 * cleanly and not early. A sequential server closes them in turn. */
	bool at_once = cf_serves_two_at_once(x);
	/* 200 at once; 50 in a slowed run (a sanitized fork server's 200
	 * forks alone took longer than a reply may); 3 for a sequential
	 * server, which closes them one after another. */
	int n = !at_once ? 3 : x->o->slow > 1 ? 50 : 200;
	struct el_conf_client **c = cf_keep(x, calloc((size_t)n, sizeof(*c)));
	if (!c)
		cf_fail(x, "out of memory");
	int64_t t0 = el_io_now_ms();
	for (int i = 0; i < n; i++)
		c[i] = cf_open(x);
	cf_note(x, "%d connections that send nothing", n);
	if (at_once)
		cf_fresh_client_served(x);
	int64_t limit = t0 + cf_ms(x, (int)(n * (at_once ? 0 : 1) * 1000 + 4000));
	for (int i = 0; i < n; i++) {
		int left = (int)(limit - el_io_now_ms());
		cf_expect_eof(x, c[i], left > 0 ? left : 1);
	}
	int64_t took = el_io_now_ms() - t0;
	if (took < 900)
		cf_fail(x, "idle connections were closed after %lld ms, before the 1 s idle timeout", (long long)took);
	cf_fresh_client_served(x);
}

void el_case_connect_storm(struct el_conf_ctx *x)
{
	enum { N = 500 };
	int *fds = cf_keep(x, calloc(N, sizeof(int)));
	if (!fds)
		cf_fail(x, "out of memory");
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	{
		struct el_conf_client *probe = cf_open(x);
		getpeername(probe->fd, (struct sockaddr *)&sa, &len);
		cf_close(x, probe);
	}
	int opened = 0;
	for (int i = 0; i < N; i++) {
		fds[i] = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fds[i] < 0)
			break;
		connect(fds[i], (struct sockaddr *)&sa, len);
		opened++;
	}
	cf_note(x, "%d connects at once, then each closed (every third with an RST)", opened);
	cf_sleep_ms(200);
	for (int i = 0; i < opened; i++) {
		if (i % 3 == 0) {
			struct linger lg = {.l_onoff = 1, .l_linger = 0};
			setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(fds[i]);
	}
	cf_fresh_client_served(x);
}

/* How to replay one stream of the fuzz case: echolab-netfuzz (beside this
 * program, or on the PATH as it is) against the server's port, with
 * the --max-line the streams were drawn for; the failure adds --seed and
 * --conn. */
static void fuzz_replay(struct el_conf_ctx *x, char *out, size_t len)
{
	char prog[4096] = "echolab-netfuzz", port[16], max_line[32];
	const char *slash = x->o->self ? strrchr(x->o->self, '/') : NULL;
	if (slash) {
		snprintf(prog, sizeof(prog), "%.*secholab-netfuzz", (int)(slash - x->o->self + 1), x->o->self);
		if (access(prog, X_OK) != 0)
			snprintf(prog, sizeof(prog), "echolab-netfuzz");
	}
	snprintf(port, sizeof(port), "%u", x->port);
	snprintf(max_line, sizeof(max_line), "%ld", x->o->max_line);
	char *w[7];
	int n = 0;
	w[n++] = prog;
	if (strcmp(x->host, "127.0.0.1") != 0) {
		w[n++] = "--host";
		w[n++] = (char *)x->host;
	}
	w[n++] = "--port";
	w[n++] = port;
	if (x->o->max_line != 8192) {
		w[n++] = "--max-line";
		w[n++] = max_line;
	}
	el_cli_shell_line(out, len, n, w);
}

void el_case_fuzz(struct el_conf_ctx *x)
{
	struct el_nf_opts o;
	el_nf_defaults(&o);
	char replay[4300];
	fuzz_replay(x, replay, sizeof(replay));
	o.replay = replay;
	o.host = x->host;
	o.port = x->port;
	o.seed = 20261129;
	o.duration_s = 3;
	o.parallel = cf_serves_two_at_once(x) ? 32 : 1;
	o.max_line = (size_t)x->o->max_line;
	o.stall_ms = cf_ms(x, 5000);
	o.stop = x->o->stop;
	struct el_nf_result r;
	int rc = el_nf_run(&o, &r);
	if (rc < 0)
		cf_fail(x, "the fuzzer could not run: %s", r.first);
	cf_note(x, "%ld connections, %ld messages, %ld replies checked (%ld too long)", r.connections,
		r.messages, r.replies, r.too_long);
	if (r.failures) {
		/* The replay needs the server on the same port again. */
		if (x->sup)
			cf_note(x, "to replay a stream alone, start the server on that port again (%s), then run "
				   "the first failure's replay command",
				x->runner->cmd);
		cf_fail(x, "%ld of %ld random streams broke the protocol; the first: %s", r.failures, r.connections,
			r.first);
	}
	cf_fresh_client_served(x);
}
