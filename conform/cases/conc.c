/* The conc cases: serving several clients at once.
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
#include "io.h"

/* --- conc ------------------------------------------------------------- */

/* Does a second client get its reply while the first stays connected? */
bool cf_serves_two_at_once(struct el_conf_ctx *x)
{
	struct el_conf_client *a = cf_open(x);
	cf_roundtrip(x, a, "first");
	struct el_conf_client *b = cf_open(x);
	const char *msg = "second";
	if (x->o->raw)
		cf_send(x, b, msg, strlen(msg));
	else
		cf_send_str(x, b, "second\n");
	/* Wait for b's reply while a stays active (a message every 300 ms):
	 * an idle a closed by the server's idle timeout would let a
	 * sequential server answer b and pass for a concurrent one. */
	bool at_once = false;
	for (int64_t until = el_io_now_ms() + cf_ms(x, 500); !at_once && el_io_now_ms() < until;) {
		struct pollfd p = {.fd = b->fd, .events = POLLIN};
		at_once = el_io_poll(&p, 1, el_io_now_ms() + 300, true) > 0;
		if (!at_once)
			cf_roundtrip(x, a, "still here");
	}
	cf_close(x, a);
	if (x->o->raw)
		cf_expect_bytes(x, b, msg, strlen(msg));
	else
		cf_expect_echo_str(x, b, msg);
	cf_close(x, b);
	return at_once;
}

void el_case_concurrency(struct el_conf_ctx *x)
{
	enum { N = 10 };
	struct el_conf_client *c[N];
	for (int i = 0; i < N; i++) {
		c[i] = cf_open(x);
		char m[32];
		snprintf(m, sizeof(m), x->o->raw ? "client %d" : "client %d\n", i);
		cf_send_str(x, c[i], m);
	}
	/* How many are answered while all stay connected. */
	int answered = 0;
	bool got[N] = {false};
	int64_t until = el_io_now_ms() + cf_ms(x, 1000);
	while (answered < N && el_io_now_ms() < until) {
		struct pollfd p[N];
		for (int i = 0; i < N; i++)
			p[i] = (struct pollfd){.fd = got[i] ? -1 : c[i]->fd, .events = POLLIN};
		if (el_io_poll(p, N, until, true) <= 0)
			break;
		for (int i = 0; i < N; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			char m[32];
			snprintf(m, sizeof(m), "client %d", i);
			if (x->o->raw)
				cf_expect_bytes(x, c[i], m, strlen(m));
			else
				cf_expect_echo_str(x, c[i], m);
			got[i] = true;
			answered++;
		}
	}
	/* The rest, each once those before it leave (a sequential server). */
	for (int i = 0; i < N; i++) {
		if (!got[i]) {
			char m[32];
			snprintf(m, sizeof(m), "client %d", i);
			if (x->o->raw)
				cf_expect_bytes(x, c[i], m, strlen(m));
			else
				cf_expect_echo_str(x, c[i], m);
		}
		cf_close(x, c[i]);
	}
	if (answered == N)
		cf_info(x, "served %d clients at once", N);
	else if (answered <= 1)
		cf_info(x, "served one client at a time (sequential: %d of %d answered while all stayed "
			   "connected; each of the others once those before it left)",
			answered, N);
	else
		cf_info(x, "served %d of %d clients at once; the others once those before them left", answered, N);
}

void el_case_many_clients(struct el_conf_ctx *x)
{
	enum { N = 50, K = 5 };
	struct el_conf_client *c[N];
	int done[N] = {0}, left = N;
	for (int i = 0; i < N; i++)
		c[i] = cf_open(x);
	for (int i = 0; i < N; i++) {
		char m[32];
		snprintf(m, sizeof(m), x->o->raw ? "c%d-0|" : "c%d-0\n", i);
		cf_send_str(x, c[i], m);
	}
	/* Each client sends its next message once the last was answered and
	 * leaves after K: a sequential server gets to each in turn. */
	int64_t until = el_io_now_ms() + cf_ms(x, 30000);
	while (left > 0) {
		if (el_io_now_ms() > until)
			cf_fail(x, "%d of %d clients not done within %d s", left, N, cf_ms(x, 30));
		struct pollfd p[N];
		for (int i = 0; i < N; i++)
			p[i] = (struct pollfd){.fd = done[i] == K ? -1 : c[i]->fd, .events = POLLIN};
		if (el_io_poll(p, N, until, true) < 0)
			cf_fail(x, "poll failed");
		for (int i = 0; i < N; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char m[32];
			snprintf(m, sizeof(m), x->o->raw ? "c%d-%d|" : "c%d-%d", i, done[i]);
			if (x->o->raw)
				cf_expect_bytes(x, c[i], m, strlen(m));
			else
				cf_expect_echo_str(x, c[i], m);
			if (++done[i] == K) {
				cf_close(x, c[i]);
				left--;
				continue;
			}
			snprintf(m, sizeof(m), x->o->raw ? "c%d-%d|" : "c%d-%d\n", i, done[i]);
			cf_send_str(x, c[i], m);
		}
	}
}

void el_case_busy(struct el_conf_ctx *x)
{
	/* --max-conns 2: a and b are held, c is told "! busy" and closed.
	 * The connection that found the server ready has just closed: give
	 * the server time to see it gone, or it still counts. */
	cf_sleep_ms(200);
	struct el_conf_client *a = cf_open(x);
	cf_roundtrip(x, a, "a");
	struct el_conf_client *b = cf_open(x);
	cf_sleep_ms(100);
	struct el_conf_client *c = cf_open(x);
	cf_expect_line(x, c, "! busy\n");
	cf_expect_eof(x, c, cf_timeout(x));
	cf_close(x, a);
	cf_roundtrip(x, b, "b");
}
