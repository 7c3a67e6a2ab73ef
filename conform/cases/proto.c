/* The proto cases: the reply, framing, the limits, raw mode (docs/protocol.md).
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

/* --- proto: the reply ------------------------------------------------- */

/* One message, its reply line read raw: the shape, field by field. */
static size_t hello_line(struct el_conf_ctx *x, struct el_conf_client **cp, const uint8_t **line)
{
	struct el_conf_client *c = cf_open(x);
	cf_send_str(x, c, "hello\n");
	*cp = c;
	return cf_line(x, c, line);
}

void el_case_reply_format(struct el_conf_ctx *x)
{
	struct el_conf_client *c;
	const uint8_t *line;
	size_t n = hello_line(x, &c, &line);
	if (line[0] == '!')
		cf_fail(x, "an error line where the echo was due");
	char tail[128];
	int tn = snprintf(tail, sizeof(tail), "] [%s] [%u] [hello]\n", c->addr, c->port);
	if (n != 1 + EL_TIME_LEN + (size_t)tn || line[0] != '[' ||
	    memcmp(line + 1 + EL_TIME_LEN, tail, (size_t)tn) != 0) {
		char want[160];
		snprintf(want, sizeof(want), "[YYYY-MM-DDTHH:MM:SS.uuuuuuZ%s", tail);
		cf_bytes(x, "expected", want, strlen(want));
		cf_fail(x, "the reply is not \"[TIME] [ADDR] [PORT] [MSG]\" with single spaces and one LF");
	}
	cf_send_str(x, c, "world\n");
	cf_expect_echo_str(x, c, "world");
}

void el_case_time_format(struct el_conf_ctx *x)
{
	struct el_conf_client *c;
	const uint8_t *line;
	size_t n = hello_line(x, &c, &line);
	const uint8_t *end = memchr(line, ']', n);
	size_t len = end ? (size_t)(end - line - 1) : 0;
	struct timespec ts;
	if (line[0] != '[' || !end || el_time_parse((const char *)line + 1, len, &ts) != 0)
		cf_fail(x, "TIME \"%.*s\" is not RFC 3339 UTC with microseconds (2026-11-23T22:34:05.971296Z)",
			(int)(len < 40 ? len : 40), line + 1);
}

void el_case_time_utc(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	cf_send_str(x, c, "when\n");
	/* cf_expect_echo checks TIME against this machine's UTC clock. */
	cf_expect_echo_str(x, c, "when");
}

void el_case_client_address(struct el_conf_ctx *x)
{
	struct el_conf_client *c;
	const uint8_t *line;
	size_t n = hello_line(x, &c, &line);
	struct el_reply r;
	int rc = el_reply_parse(line, n, &r);
	if (rc < 0)
		cf_fail(x, "not a reply line: %s", el_reply_strerror(rc));
	if (strcmp(r.addr, c->addr) != 0)
		cf_fail(x, "ADDR is %s; the client's address, as the server's getpeername gives it (RFC 5952 "
			   "for IPv6, IPv4-mapped written as IPv4), is %s",
			r.addr, c->addr);
}

void el_case_client_port(struct el_conf_ctx *x)
{
	for (int i = 0; i < 3; i++) {
		struct el_conf_client *c;
		const uint8_t *line;
		size_t n = hello_line(x, &c, &line);
		struct el_reply r;
		int rc = el_reply_parse(line, n, &r);
		if (rc < 0)
			cf_fail(x, "not a reply line: %s", el_reply_strerror(rc));
		if (r.port != c->port)
			cf_fail(x, "PORT is %u; the client's own port is %u (the server's is %u)", r.port, c->port,
				x->port);
		cf_close(x, c);
	}
}

/* --- proto: framing --------------------------------------------------- */

void el_case_crlf(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	cf_send_str(x, c, "dos\r\nin\rside\nx\r\r\n\r\n");
	cf_expect_echo_str(x, c, "dos");
	cf_expect_echo_str(x, c, "in\rside");
	cf_expect_echo_str(x, c, "x\r");
	cf_expect_echo_str(x, c, "");
}

void el_case_empty(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	cf_send_str(x, c, "\n\n");
	cf_expect_echo_str(x, c, "");
	cf_expect_echo_str(x, c, "");
	cf_send_str(x, c, "after\n");
	cf_expect_echo_str(x, c, "after");
}

void el_case_brackets(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	const char *msgs[] = {"]", "[", "[a] [b]", "x]", " ] [ ", "[[[]]]", "  two  spaces  "};
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "%s\n", msgs[i]);
		cf_send_str(x, c, line);
		cf_expect_echo_str(x, c, msgs[i]);
	}
}

void el_case_binary(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	uint8_t msg[258]; /* 254 byte values, CR, z, LF */
	size_t n = 0;
	for (int b = 255; b >= 0; b--)
		if (b != '\n' && b != '\r')
			msg[n++] = (uint8_t)b;
	msg[n++] = '\r'; /* a CR not before the LF is content */
	msg[n++] = 'z';
	msg[n] = '\n';
	cf_send(x, c, msg, n + 1);
	cf_expect_echo(x, c, msg, n);
}

void el_case_nul(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	static const char msg[] = "a\0b\0\0c";
	cf_send(x, c, msg, sizeof(msg)); /* the last NUL of the literal ... */
	cf_send_str(x, c, "\n");
	cf_expect_echo(x, c, msg, sizeof(msg)); /* ... is content too */
	cf_send(x, c, "\0\n", 2);
	cf_expect_echo(x, c, "\0", 1);
}

void el_case_split_every_byte(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	const char *text = "split into bytes\r\n";
	for (const char *p = text; *p; p++) {
		cf_send(x, c, p, 1);
		cf_sleep_ms(2);
	}
	cf_expect_echo_str(x, c, "split into bytes");
}

void el_case_split_everywhere(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	const char *text = "two messages\r\nin one\n";
	size_t len = strlen(text);
	for (size_t k = 1; k < len; k++) {
		cf_note(x, "-- split after byte %zu:", k);
		cf_send(x, c, text, k);
		cf_sleep_ms(20);
		cf_send(x, c, text + k, len - k);
		cf_expect_echo_str(x, c, "two messages");
		cf_expect_echo_str(x, c, "in one");
	}
}

void el_case_pipelining(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	char *all = cf_keep(x, malloc(1000 * 16));
	if (!all)
		cf_fail(x, "out of memory");
	size_t len = 0;
	for (int i = 0; i < 1000; i++)
		len += (size_t)sprintf(all + len, "msg-%d\n", i);
	cf_send(x, c, all, len);
	struct timespec last = {0, 0};
	for (int i = 0; i < 1000; i++) {
		char want[16];
		int wn = sprintf(want, "msg-%d", i);
		const uint8_t *line;
		size_t n = cf_line(x, c, &line);
		struct el_reply r;
		int rc = el_reply_parse(line, n, &r);
		if (rc < 0)
			cf_fail(x, "reply %d: not a reply line: %s", i, el_reply_strerror(rc));
		if (r.msg_len != (size_t)wn || memcmp(r.msg, want, (size_t)wn) != 0)
			cf_fail(x, "reply %d is not the echo of message %d: out of order, lost or twice", i, i);
		if (r.time.tv_sec < last.tv_sec || (r.time.tv_sec == last.tv_sec && r.time.tv_nsec < last.tv_nsec))
			cf_fail(x, "TIME went back at reply %d", i);
		last = r.time;
	}
}

void el_case_partial_at_eof(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	cf_send_str(x, c, "first\nno newline");
	cf_half_close(x, c);
	cf_expect_echo_str(x, c, "first");
	cf_expect_echo_str(x, c, "no newline");
	cf_expect_eof(x, c, cf_timeout(x));
}

void el_case_close_fin(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	char *all = cf_keep(x, malloc(2000 * 16));
	if (!all)
		cf_fail(x, "out of memory");
	size_t len = 0;
	for (int i = 0; i < 2000; i++)
		len += (size_t)sprintf(all + len, "m%d\n", i);
	cf_send(x, c, all, len);
	cf_half_close(x, c);
	for (int i = 0; i < 2000; i++) {
		char want[16];
		sprintf(want, "m%d", i);
		cf_expect_echo_str(x, c, want);
	}
	cf_expect_eof(x, c, cf_timeout(x));
}

/* --- proto: limits ---------------------------------------------------- */

static char *filled(struct el_conf_ctx *x, size_t n, const char *end)
{
	char *m = cf_keep(x, malloc(n + strlen(end) + 1));
	if (!m)
		cf_fail(x, "out of memory");
	for (size_t i = 0; i < n; i++)
		m[i] = (char)('a' + i % 26);
	strcpy(m + n, end);
	return m;
}

static void max_line_length(struct el_conf_ctx *x, long delta, const char *end)
{
	long max = x->o->max_line;
	struct el_conf_client *c = cf_open(x);
	size_t n = (size_t)(max + delta);
	char *m = filled(x, n, end);
	cf_send(x, c, m, strlen(m));
	if (delta <= 0) {
		cf_expect_echo(x, c, m, n);
	} else {
		char want[64];
		snprintf(want, sizeof(want), "! line-too-long %ld\n", max);
		cf_expect_line(x, c, want);
	}
	cf_send_str(x, c, "next\n");
	cf_expect_echo_str(x, c, "next");
	cf_close(x, c); /* a sequential server serves the next client then */
}

void el_case_max_line_minus_1(struct el_conf_ctx *x)
{
	max_line_length(x, -1, "\n");
}

void el_case_max_line_exact(struct el_conf_ctx *x)
{
	max_line_length(x, 0, "\n");
	max_line_length(x, 0, "\r\n");
}

void el_case_max_line_plus_1(struct el_conf_ctx *x)
{
	max_line_length(x, 1, "\n");
}

void el_case_max_line_far_over(struct el_conf_ctx *x)
{
	long max = x->o->max_line;
	struct el_conf_client *c = cf_open(x);
	char chunk[4096];
	memset(chunk, 'z', sizeof(chunk));
	size_t total = (size_t)max * 4 + 100 * 1024, sent = 0;
	/* The error comes when the limit is passed, before the line ends. */
	while (sent <= (size_t)max) {
		cf_send(x, c, chunk, sizeof(chunk));
		sent += sizeof(chunk);
	}
	char want[64];
	snprintf(want, sizeof(want), "! line-too-long %ld\n", max);
	cf_expect_line(x, c, want);
	while (sent < total) {
		cf_send(x, c, chunk, sizeof(chunk));
		sent += sizeof(chunk);
	}
	cf_send_str(x, c, "the end of the long line\nrecovered\n");
	cf_expect_echo_str(x, c, "recovered");
}

/* docs/interface.md's --idle-timeout: an active connection stays, an idle
 * one is closed with a FIN after the timeout, not before. */
void el_case_idle_timeout(struct el_conf_ctx *x)
{
	struct el_conf_client *a = cf_open(x);
	for (int i = 0; i < 8; i++) {
		cf_send_str(x, a, "tick\n");
		cf_expect_echo_str(x, a, "tick");
		cf_sleep_ms(250);
	}
	cf_close(x, a);
	struct el_conf_client *b = cf_open(x);
	cf_send_str(x, b, "then idle\n");
	cf_expect_echo_str(x, b, "then idle");
	int64_t t0 = el_io_now_ms();
	cf_expect_eof(x, b, cf_ms(x, 4000));
	int64_t waited = el_io_now_ms() - t0;
	if (waited < 900)
		cf_fail(x, "closed after %lld ms, before the 1 s idle timeout", (long long)waited);
}

/* --- raw -------------------------------------------------------------- */

void el_case_raw_echo(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	size_t total = 1 << 20;
	uint8_t *out = cf_keep(x, malloc(total)), *in = cf_keep(x, malloc(total));
	if (!out || !in)
		cf_fail(x, "out of memory");
	unsigned seed = 42;
	for (size_t i = 0; i < total; i++)
		out[i] = (uint8_t)rand_r(&seed);
	cf_note(x, "c%d > 1 MiB of random bytes, read back as they come", c->n);
	el_io_set_nonblock(c->fd, true);
	size_t sent = 0, got = 0;
	int64_t deadline = el_io_now_ms() + cf_ms(x, 20000);
	while (got < total && el_io_now_ms() < deadline) {
		struct pollfd p = {.fd = c->fd, .events = (short)(POLLIN | (sent < total ? POLLOUT : 0))};
		el_io_poll(&p, 1, el_io_now_ms() + 1000, true);
		if (sent < total && (p.revents & POLLOUT)) {
			ssize_t n = el_io_write(c->fd, out + sent, total - sent > 65536 ? 65536 : total - sent);
			if (n > 0)
				sent += (size_t)n;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = el_io_read(c->fd, in + got, total - got);
			if (n == 0 || (n < 0 && n != -EAGAIN))
				cf_fail(x, "the echo ended after %zu of %zu bytes (%s)", got, total,
					n == 0 ? "FIN" : strerror((int)-n));
			if (n > 0)
				got += (size_t)n;
		}
	}
	el_io_set_nonblock(c->fd, false);
	if (got < total)
		cf_fail(x, "%zu of %zu bytes echoed in %d s", got, total, cf_ms(x, 20));
	for (size_t i = 0; i < total; i++)
		if (in[i] != out[i])
			cf_fail(x, "byte %zu echoed as 0x%02x, sent as 0x%02x", i, in[i], out[i]);
	cf_half_close(x, c);
	cf_expect_eof(x, c, cf_timeout(x));
}

void el_case_raw_no_framing(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	const char *text = "no\r\nframing [here]\n\0\nat all";
	size_t len = 28;
	for (size_t k = 1; k < len; k += 5) {
		cf_send(x, c, text, k);
		cf_sleep_ms(10);
		cf_send(x, c, text + k, len - k);
		cf_expect_bytes(x, c, text, len);
	}
}
