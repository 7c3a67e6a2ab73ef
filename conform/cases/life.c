/* The life cases: the server's stop with messages in flight.
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

/* --- life ------------------------------------------------------------- */

void el_case_sigterm_in_flight(struct el_conf_ctx *x)
{
	struct el_conf_client *a = cf_open(x);
	cf_roundtrip(x, a, "before");
	enum { N = 2000 };
	char *all = cf_keep(x, malloc(N * 16));
	if (!all)
		cf_fail(x, "out of memory");
	size_t len = 0;
	for (int i = 0; i < N; i++)
		len += (size_t)sprintf(all + len, x->o->raw ? "m%d|" : "m%d\n", i);
	cf_send(x, a, all, len);
	cf_note(x, "-- SIGTERM to the server's process group");
	el_sup_signal(x->sup, SIGTERM, true);
	x->stopped = true;
	long answered = 0;
	const char *how = "";
	if (x->o->raw) {
		/* Whatever comes back must be a prefix of what was sent. */
		size_t got = 0;
		char buf[4096];
		for (;;) {
			struct pollfd p = {.fd = a->fd, .events = POLLIN};
			if (el_io_poll(&p, 1, el_io_now_ms() + cf_timeout(x), true) <= 0) {
				how = "nothing more, the connection still open";
				break;
			}
			ssize_t n = el_io_read(a->fd, buf, sizeof(buf));
			if (n <= 0) {
				how = n == 0 ? "then a FIN" : "then an RST";
				break;
			}
			if (got + (size_t)n > len || memcmp(buf, all + got, (size_t)n) != 0)
				cf_fail(x, "bytes echoed after SIGTERM are not those sent");
			got += (size_t)n;
		}
		answered = (long)got;
	} else {
		for (;;) {
			const uint8_t *line;
			ssize_t n = cf_try_line(x, a, &line, cf_timeout(x));
			if (n <= 0) {
				how = n == 0 ? "then a FIN" : n == -ECONNRESET ? "then an RST" : "nothing more, the connection still open";
				break;
			}
			char want[32];
			snprintf(want, sizeof(want), "m%ld", answered);
			struct el_reply r;
			if (el_reply_parse(line, (size_t)n, &r) < 0 || r.msg_len != strlen(want) ||
			    memcmp(r.msg, want, r.msg_len) != 0)
				cf_fail(x, "reply %ld after SIGTERM is not the echo of message %ld", answered, answered);
			answered++;
		}
	}
	int64_t t0 = el_io_now_ms();
	while (el_sup_alive(x->sup) && el_io_now_ms() - t0 < cf_ms(x, 5000))
		cf_sleep_ms(10);
	if (el_sup_alive(x->sup)) {
		cf_info(x, "%ld of %d %s answered, %s; the server still ran 5 s after SIGTERM", answered, N,
			x->o->raw ? "bytes" : "messages", how);
		return;
	}
	int st = x->sup->status;
	char end[64], name[32];
	if (WIFEXITED(st))
		snprintf(end, sizeof(end), "exit status %d", WEXITSTATUS(st));
	else
		snprintf(end, sizeof(end), "killed by %s", el_sup_signal_name(WTERMSIG(st), name, sizeof(name)));
	cf_info(x, "%ld of %ld %s in flight answered, in order, %s; the server ended with %s", answered,
		x->o->raw ? (long)len : (long)N, x->o->raw ? "bytes" : "messages", how, end);
}
