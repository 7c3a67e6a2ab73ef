/* The wire cases: on the wire, by capture (root): handshakes, FINs, SYNs sent again.
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
#include "capture.h"
#include "flow.h"

/* --- wire ------------------------------------------------------------- */

/* A capture of the server's port on lo for one case (loopback only: a
 * remote server's packets would be captured on another interface). */
struct wire {
	struct el_capture *cap;
	char path[64];
	struct el_flow_table t;
	struct el_flow_totals sum;
};

static void wire_start(struct el_conf_ctx *x, struct wire *w)
{
	if (strncmp(x->host, "127.", 4) != 0 && strcmp(x->host, "::1") != 0 && strcmp(x->host, "localhost") != 0)
		cf_skip(x, "captures only on loopback here; %s is not", x->host);
	snprintf(w->path, sizeof(w->path), "/tmp/echolab-conform-%d.pcap", (int)getpid());
	char filter[64], err[256];
	snprintf(filter, sizeof(filter), "tcp port %u", x->port);
	struct el_capture_opts co = {.iface = "lo", .filter = filter, .path = w->path};
	int rc = el_capture_start(&w->cap, &co, err, sizeof(err));
	if (rc == -EPERM)
		cf_skip(x, "cannot capture: %s", err);
	if (rc < 0)
		cf_fail(x, "capture: %s", err);
	cf_note(x, "capturing %s on lo into %s", filter, w->path);
}

static void wire_stop(struct el_conf_ctx *x, struct wire *w)
{
	cf_sleep_ms(200); /* the last FINs and ACKs */
	struct el_capture_stats st;
	char err[256];
	int rc = el_capture_stop(w->cap, &st, err, sizeof(err));
	w->cap = NULL;
	if (rc < 0)
		cf_fail(x, "capture: %s", err);
	if (st.kernel_drops || st.iface_drops)
		cf_skip(x, "the capture lost %llu packets: it proves nothing",
			(unsigned long long)(st.kernel_drops + st.iface_drops));
	el_flow_table_init(&w->t, (uint16_t)x->port);
	rc = el_flow_read_file(&w->t, w->path, err, sizeof(err));
	unlink(w->path);
	if (rc < 0) {
		el_flow_table_finish(&w->t);
		cf_fail(x, "reading the capture: %s", err);
	}
	el_flow_totals(&w->t, &w->sum);
	cf_note(x, "flows=%zu handshakes=%zu syn_retransmits=%u synack_retransmits=%u data_retransmits=%u "
		   "fins=%u resets=%u",
		w->sum.flows, w->sum.handshakes, w->sum.syn_retransmits, w->sum.synack_retransmits,
		w->sum.data_retransmits, w->sum.fins, w->sum.resets);
}

void el_case_clean_close(struct el_conf_ctx *x)
{
	struct wire w = {0};
	wire_start(x, &w);
	enum { N = 5 };
	for (int i = 0; i < N; i++) {
		struct el_conf_client *c = cf_open(x);
		cf_roundtrip(x, c, "on the wire");
		cf_half_close(x, c);
		cf_expect_eof(x, c, cf_timeout(x));
		cf_close(x, c);
	}
	wire_stop(x, &w);
	/* The connections that started in the capture: the last packets of
	 * an earlier case's connections may be on the port too. */
	char why[160] = "";
	size_t started = 0, handshakes = 0;
	unsigned resets = 0;
	for (size_t i = 0; i < w.t.n; i++) {
		const struct el_flow *f = &w.t.flows[i];
		if (!f->saw_syn)
			continue;
		started++;
		handshakes += f->handshake;
		resets += f->resets[EL_C2S] + f->resets[EL_S2C];
		if (!why[0] && (f->fins[EL_C2S] != 1 || f->fins[EL_S2C] != 1))
			snprintf(why, sizeof(why), "a connection without a FIN each way (client %u, server %u)",
				 f->fins[EL_C2S], f->fins[EL_S2C]);
	}
	if (started != N || handshakes != N)
		snprintf(why, sizeof(why), "%zu connections began and %zu handshakes completed where %d connections were made",
			 started, handshakes, N);
	else if (resets)
		snprintf(why, sizeof(why), "%u RSTs on connections closed normally", resets);
	el_flow_table_finish(&w.t);
	if (why[0])
		cf_fail(x, "%s", why);
}

/* The lab's experiment: with {backlog} 1 and one client being served,
 * more clients connect, one after another and then at once. Linux drops
 * the SYNs that find the accept queue full and the clients send them
 * again; a server that accepts at once leaves the queue empty. */
void el_case_backlog_1(struct el_conf_ctx *x)
{
	struct wire w = {0};
	wire_start(x, &w);
	struct el_conf_client *a = cf_open(x);
	cf_roundtrip(x, a, "first, and staying");
	enum { ONE_BY_ONE = 5, BURST = 20 };
	struct el_conf_client *c[ONE_BY_ONE];
	for (int i = 0; i < ONE_BY_ONE; i++) {
		c[i] = cf_open(x);
		cf_sleep_ms(100);
	}
	/* A burst of connects that does not wait for its handshakes. */
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	getpeername(a->fd, (struct sockaddr *)&sa, &len);
	int burst[BURST];
	for (int i = 0; i < BURST; i++) {
		burst[i] = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (burst[i] >= 0)
			connect(burst[i], (struct sockaddr *)&sa, len);
	}
	cf_sleep_ms(cf_ms(x, 1500)); /* past the first SYN retransmission (+1 s) */
	cf_close(x, a);
	/* Every client of the first group is served, in turn if need be. */
	for (int i = 0; i < ONE_BY_ONE; i++) {
		cf_roundtrip(x, c[i], "waited");
		cf_close(x, c[i]);
	}
	for (int i = 0; i < BURST; i++)
		if (burst[i] >= 0)
			close(burst[i]);
	wire_stop(x, &w);
	unsigned first_resent = 0;
	for (size_t i = 1; i < w.t.n && i <= ONE_BY_ONE; i++)
		first_resent += w.t.flows[i].syn_retransmits > 0;
	cf_info(x, "backlog 1, one client served: of %d clients connecting one after another %u sent their SYN again; "
		   "with a burst of %d, %u SYNs sent again in all",
		ONE_BY_ONE, first_resent, BURST, w.sum.syn_retransmits);
	el_flow_table_finish(&w.t);
}
