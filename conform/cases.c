/* The cases: every behaviour of docs/protocol.md, each a function over the
 * helpers of cases.h, in the table at the end. A case fails on the first
 * thing the server gets wrong and says what; a legal variant (an
 * iterative server, a reply written in pieces, a slow server) passes. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "cases.h"
#include "cli.h"
#include "flow.h"
#include "io.h"
#include "netfuzz.h"

#define S_MESSAGES "Client to server: messages"
#define S_ANNOTATED "Server to client: annotated mode (the default)"
#define S_ERRORS "Server to client: errors"
#define S_RAW "Raw mode (RFC 862)"
#define S_CLOSING "Closing"
#define S_TRANSPORT "Transport"
#define S_INTERFACE "docs/interface.md: echolab-server"
#define S_LOG "The server's log"

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* --- proto: the reply ------------------------------------------------- */

/* One message, its reply line read raw: the shape, field by field. */
static size_t hello_line(struct el_conf_ctx *x, struct el_conf_client **cp, const uint8_t **line)
{
	struct el_conf_client *c = cf_open(x);
	cf_send_str(x, c, "hello\n");
	*cp = c;
	return cf_line(x, c, line);
}

static void reply_format(struct el_conf_ctx *x)
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

static void time_format(struct el_conf_ctx *x)
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

static void time_utc(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	cf_send_str(x, c, "when\n");
	/* cf_expect_echo checks TIME against this machine's UTC clock. */
	cf_expect_echo_str(x, c, "when");
}

static void client_address(struct el_conf_ctx *x)
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

static void client_port(struct el_conf_ctx *x)
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

static void crlf(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	cf_send_str(x, c, "dos\r\nin\rside\nx\r\r\n\r\n");
	cf_expect_echo_str(x, c, "dos");
	cf_expect_echo_str(x, c, "in\rside");
	cf_expect_echo_str(x, c, "x\r");
	cf_expect_echo_str(x, c, "");
}

static void empty(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	cf_send_str(x, c, "\n\n");
	cf_expect_echo_str(x, c, "");
	cf_expect_echo_str(x, c, "");
	cf_send_str(x, c, "after\n");
	cf_expect_echo_str(x, c, "after");
}

static void brackets(struct el_conf_ctx *x)
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

static void binary(struct el_conf_ctx *x)
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

static void nul(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	static const char msg[] = "a\0b\0\0c";
	cf_send(x, c, msg, sizeof(msg)); /* the last NUL of the literal ... */
	cf_send_str(x, c, "\n");
	cf_expect_echo(x, c, msg, sizeof(msg)); /* ... is content too */
	cf_send(x, c, "\0\n", 2);
	cf_expect_echo(x, c, "\0", 1);
}

static void split_every_byte(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	const char *text = "split into bytes\r\n";
	for (const char *p = text; *p; p++) {
		cf_send(x, c, p, 1);
		sleep_ms(2);
	}
	cf_expect_echo_str(x, c, "split into bytes");
}

static void split_everywhere(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	const char *text = "two messages\r\nin one\n";
	size_t len = strlen(text);
	for (size_t k = 1; k < len; k++) {
		cf_note(x, "-- split after byte %zu:", k);
		cf_send(x, c, text, k);
		sleep_ms(20);
		cf_send(x, c, text + k, len - k);
		cf_expect_echo_str(x, c, "two messages");
		cf_expect_echo_str(x, c, "in one");
	}
}

static void pipelining(struct el_conf_ctx *x)
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

static void partial_at_eof(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	cf_send_str(x, c, "first\nno newline");
	cf_half_close(x, c);
	cf_expect_echo_str(x, c, "first");
	cf_expect_echo_str(x, c, "no newline");
	cf_expect_eof(x, c, cf_timeout(x));
}

static void close_fin(struct el_conf_ctx *x)
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

static void max_line_minus_1(struct el_conf_ctx *x)
{
	max_line_length(x, -1, "\n");
}

static void max_line_exact(struct el_conf_ctx *x)
{
	max_line_length(x, 0, "\n");
	max_line_length(x, 0, "\r\n");
}

static void max_line_plus_1(struct el_conf_ctx *x)
{
	max_line_length(x, 1, "\n");
}

static void max_line_far_over(struct el_conf_ctx *x)
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
static void idle_timeout(struct el_conf_ctx *x)
{
	struct el_conf_client *a = cf_open(x);
	for (int i = 0; i < 8; i++) {
		cf_send_str(x, a, "tick\n");
		cf_expect_echo_str(x, a, "tick");
		sleep_ms(250);
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

/* --- proto: the server's log ------------------------------------------ */

/* A message, its reply line and the log line it calls for: the reply's
 * TIME, ADDR and PORT as they are, MSG escaped (el_escape: the protocol's
 * \xhh and \\). */
struct logged {
	int client;              /* c1, c2 ... */
	const uint8_t *msg;
	size_t msg_len;
	char reply[512];         /* the reply line, LF included */
	size_t reply_len;
	char want[2048];         /* its log line, LF included */
	size_t want_len;
};

/* The log's lines, split at LF (each kept with its LF; a last one
 * without). Returns how many, at most max. */
static size_t log_lines(char *log, size_t len, const char **line, size_t *llen, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n < max;) {
		const char *nl = memchr(log + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - (log + i)) + 1 : len - i;
		line[n] = log + i;
		llen[n++] = l;
		i += l;
	}
	return n;
}

/* How many of the lines are exactly want. */
static int count_line(const char **line, const size_t *llen, size_t n, const char *want, size_t wlen)
{
	int k = 0;
	for (size_t i = 0; i < n; i++)
		k += llen[i] == wlen && memcmp(line[i], want, wlen) == 0;
	return k;
}

/* Sends the messages, the first half on one client and the rest on a
 * second once the first has left (a sequential server serves one at a
 * time), keeps each reply and the log line it calls for, then waits for
 * the server's standard output to hold them all: at most the reply
 * timeout, or 1 s while it is still empty. A server that wrote nothing
 * there is skipped: it keeps no log. Returns the log's lines (into line
 * and llen, at most max). */
static size_t log_exchange(struct el_conf_ctx *x, const char *const *msgs, const size_t *lens, size_t n,
			   struct logged *m, const char **line, size_t *llen, size_t max)
{
	struct el_conf_client *to = NULL;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || i == (n + 1) / 2) {
			if (to)
				cf_close(x, to);
			to = cf_open(x);
		}
		uint8_t out[256];
		memcpy(out, msgs[i], lens[i]);
		out[lens[i]] = '\n';
		cf_send(x, to, out, lens[i] + 1);
		const uint8_t *reply;
		size_t rn = cf_line(x, to, &reply);
		struct el_reply r;
		int rc = el_reply_parse(reply, rn, &r);
		if (rc < 0)
			cf_fail(x, "c%d: not a reply line: %s", to->n, el_reply_strerror(rc));
		if (r.msg_len != lens[i] || memcmp(r.msg, msgs[i], lens[i]) != 0 || rn > sizeof(m[i].reply))
			cf_fail(x, "c%d: the reply's MSG is not the message (proto.binary and proto.nul say more)",
				to->n);
		m[i] = (struct logged){.client = to->n, .msg = (const uint8_t *)msgs[i], .msg_len = lens[i],
				       .reply_len = rn};
		memcpy(m[i].reply, reply, rn);
		size_t head = (size_t)(r.msg - reply);
		memcpy(m[i].want, reply, head);
		size_t e = el_escape(m[i].want + head, r.msg, r.msg_len);
		memcpy(m[i].want + head + e, "]\n", 2);
		m[i].want_len = head + e + 2;
	}
	int64_t t0 = el_io_now_ms();
	for (;;) {
		size_t len;
		char *log = cf_server_log(x, &len);
		size_t k = log_lines(log, len, line, llen, max);
		bool all = true;
		for (size_t i = 0; i < n && all; i++)
			all = count_line(line, llen, k, m[i].want, m[i].want_len) > 0;
		int64_t waited = el_io_now_ms() - t0;
		if (!all && waited <= cf_timeout(x) && (len > 0 || waited <= cf_ms(x, 1000))) {
			free(log);
			sleep_ms(20);
			continue;
		}
		cf_keep(x, log); /* the lines point into it */
		cf_note(x, "the server's standard output: %zu bytes, %zu lines", len, k);
		if (len == 0)
			cf_skip(x, "the server wrote nothing on its standard output within %.1f s of its replies: it "
				   "keeps no log (--quiet?), or holds it in a stdio buffer where docs/protocol.md asks "
				   "for one write(2) a line",
				(double)waited / 1000);
		return k;
	}
}

/* Why the log has no line m->want: the log line nearest to it (the same
 * client, then the same MSG or TIME), and what differs. Fails the case. */
static _Noreturn void log_line_missing(struct el_conf_ctx *x, const struct logged *m, const char **line,
					const size_t *llen, size_t n)
{
	struct el_reply want;
	el_reply_parse((const uint8_t *)m->want, m->want_len, &want);
	const uint8_t *msg_esc = want.msg;
	size_t best = n;
	int best_score = 0;
	bool same_time = false, same_peer = false, escaped = false, raw = false;
	for (size_t i = 0; i < n; i++) {
		struct el_reply r;
		if (el_reply_parse((const uint8_t *)line[i], llen[i], &r) < 0)
			continue;
		bool t = llen[i] > EL_TIME_LEN + 1 && memcmp(line[i], m->want, EL_TIME_LEN + 1) == 0;
		bool p = strcmp(r.addr, want.addr) == 0 && r.port == want.port;
		bool e = r.msg_len == want.msg_len && memcmp(r.msg, msg_esc, r.msg_len) == 0;
		bool w = r.msg_len == m->msg_len && memcmp(r.msg, m->msg, r.msg_len) == 0;
		int score = 2 * p + 2 * (e || w) + t;
		if (score > best_score) {
			best = i;
			best_score = score;
			same_time = t, same_peer = p, escaped = e, raw = w;
		}
	}
	cf_bytes(x, "reply   ", m->reply, m->reply_len);
	cf_bytes(x, "log due ", m->want, m->want_len);
	char what[64];
	snprintf(what, sizeof(what), "c%d's message", m->client);
	if (best == n)
		cf_fail(x, "no log line for %s (%zu lines in the log, none like it)", what, n);
	cf_bytes(x, "log has ", line[best], llen[best]);
	if (same_time && same_peer && raw && !escaped)
		cf_fail(x, "%s is logged with its bytes as they came: bytes outside 0x20..0x7E must be written \\xhh "
			   "(lowercase) and a backslash \\\\, so that a message cannot forge or garble log lines",
			what);
	if (same_time && same_peer && !escaped)
		cf_fail(x, "the log's MSG of %s is not the message, escaped as docs/protocol.md says", what);
	if (!same_time && same_peer && (escaped || raw))
		cf_fail(x, "the log's TIME of %s is not its reply's: the same line is due", what);
	if (!same_peer)
		cf_fail(x, "the log's ADDR and PORT of %s are not its reply's", what);
	cf_fail(x, "the log's line for %s is not its reply's line (the same fields, the same spaces, one LF)", what);
}

/* Every line was logged exactly once. */
static void log_each_once(struct el_conf_ctx *x, const struct logged *m, size_t nm, const char **line,
			  const size_t *llen, size_t n)
{
	for (size_t i = 0; i < nm; i++) {
		int k = count_line(line, llen, n, m[i].want, m[i].want_len);
		if (k == 0)
			log_line_missing(x, &m[i], line, llen, n);
		if (k > 1)
			cf_fail(x, "c%d's message is logged %d times", m[i].client, k);
	}
}

enum { LOG_MAX_LINES = 4096 };

static void log_matches_reply(struct el_conf_ctx *x)
{
	static const char *const msgs[] = {"hello", "two  spaces and [brackets] ]", "", "[a] [b] [c] [d]", "the last"};
	size_t lens[5];
	for (size_t i = 0; i < 5; i++)
		lens[i] = strlen(msgs[i]);
	struct logged *m = cf_keep(x, calloc(5, sizeof(*m)));
	const char **line = cf_keep(x, calloc(LOG_MAX_LINES, sizeof(*line)));
	size_t *llen = cf_keep(x, calloc(LOG_MAX_LINES, sizeof(*llen)));
	if (!m || !line || !llen)
		cf_fail(x, "out of memory");
	size_t n = log_exchange(x, msgs, lens, 5, m, line, llen, LOG_MAX_LINES);
	log_each_once(x, m, 5, line, llen, n);
	/* Events go on "# " lines, so that none looks like a message's. */
	for (size_t i = 0; i < n; i++) {
		struct el_reply r;
		if (llen[i] >= 2 && memcmp(line[i], "# ", 2) == 0)
			continue;
		if (line[i][llen[i] - 1] != '\n' || el_reply_parse((const uint8_t *)line[i], llen[i], &r) < 0) {
			cf_bytes(x, "log line", line[i], llen[i]);
			cf_fail(x, "log line %zu is neither a message's line nor an event's (\"# ...\")", i + 1);
		}
	}
}

static void log_escapes(struct el_conf_ctx *x)
{
	/* A terminal's escapes, a backslash before what looks like an
	 * escape, NUL, DEL, bytes over 0x7F, TAB, a CR not before the LF,
	 * other controls. */
	static const char ansi[] = "\x1b[31mred\x1b[0m and \x1b[2J", backslash[] = "back\\slash, and \\x41 is not an escape",
			  bytes[] = "nul\0del\x7f" "high\xff\x80 utf-8 \xc3\xa9", tab_cr[] = "tab\there, cr\rin the middle",
			  controls[] = "\x01\x02\x1f controls";
	static const char *const msgs[] = {ansi, backslash, bytes, tab_cr, controls};
	size_t lens[5] = {sizeof(ansi) - 1, sizeof(backslash) - 1, sizeof(bytes) - 1, sizeof(tab_cr) - 1,
			  sizeof(controls) - 1};
	struct logged *m = cf_keep(x, calloc(5, sizeof(*m)));
	const char **line = cf_keep(x, calloc(LOG_MAX_LINES, sizeof(*line)));
	size_t *llen = cf_keep(x, calloc(LOG_MAX_LINES, sizeof(*llen)));
	if (!m || !line || !llen)
		cf_fail(x, "out of memory");
	size_t n = log_exchange(x, msgs, lens, 5, m, line, llen, LOG_MAX_LINES);
	log_each_once(x, m, 5, line, llen, n);
}

/* --- raw -------------------------------------------------------------- */

static void raw_echo(struct el_conf_ctx *x)
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

static void raw_no_framing(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	const char *text = "no\r\nframing [here]\n\0\nat all";
	size_t len = 28;
	for (size_t k = 1; k < len; k += 5) {
		cf_send(x, c, text, k);
		sleep_ms(10);
		cf_send(x, c, text + k, len - k);
		cf_expect_bytes(x, c, text, len);
	}
}

/* --- conc ------------------------------------------------------------- */

/* Does a second client get its reply while the first stays connected? */
static bool serves_two_at_once(struct el_conf_ctx *x)
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

static void concurrency(struct el_conf_ctx *x)
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

static void many_clients(struct el_conf_ctx *x)
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

static void busy(struct el_conf_ctx *x)
{
	/* --max-conns 2: a and b are held, c is told "! busy" and closed.
	 * The connection that found the server ready has just closed: give
	 * the server time to see it gone, or it still counts. */
	sleep_ms(200);
	struct el_conf_client *a = cf_open(x);
	cf_roundtrip(x, a, "a");
	struct el_conf_client *b = cf_open(x);
	sleep_ms(100);
	struct el_conf_client *c = cf_open(x);
	cf_expect_line(x, c, "! busy\n");
	cf_expect_eof(x, c, cf_timeout(x));
	cf_close(x, a);
	cf_roundtrip(x, b, "b");
}

/* --- robust ----------------------------------------------------------- */

static void reset_mid_reply(struct el_conf_ctx *x)
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

static void never_reads(struct el_conf_ctx *x)
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
			sleep_ms(10);
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

static void slowloris(struct el_conf_ctx *x)
{
	/* {idle_timeout} 1: connections that never send are all closed,
	 * cleanly and not early. A sequential server closes them in turn. */
	bool at_once = serves_two_at_once(x);
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

static void connect_storm(struct el_conf_ctx *x)
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
	sleep_ms(200);
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

static void fuzz(struct el_conf_ctx *x)
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
	o.parallel = serves_two_at_once(x) ? 32 : 1;
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

/* --- life ------------------------------------------------------------- */

static void sigterm_in_flight(struct el_conf_ctx *x)
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
		sleep_ms(10);
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
	sleep_ms(200); /* the last FINs and ACKs */
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

static void clean_close(struct el_conf_ctx *x)
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
static void backlog_1(struct el_conf_ctx *x)
{
	struct wire w = {0};
	wire_start(x, &w);
	struct el_conf_client *a = cf_open(x);
	cf_roundtrip(x, a, "first, and staying");
	enum { ONE_BY_ONE = 5, BURST = 20 };
	struct el_conf_client *c[ONE_BY_ONE];
	for (int i = 0; i < ONE_BY_ONE; i++) {
		c[i] = cf_open(x);
		sleep_ms(100);
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
	sleep_ms(cf_ms(x, 1500)); /* past the first SYN retransmission (+1 s) */
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

/* --- the table -------------------------------------------------------- */

#define A EL_CONF_ANNOTATED
const struct el_conf_case el_conf_cases[] = {
	{"proto.reply-format", "the reply is [TIME] [ADDR] [PORT] [MSG] with single spaces and one LF",
	 S_ANNOTATED, A, .run = reply_format},
	{"proto.time-format", "TIME is RFC 3339 UTC with microseconds", S_ANNOTATED, A, .run = time_format},
	{"proto.time-utc", "TIME is UTC, within the stated skew of this machine's clock", S_ANNOTATED, A,
	 .run = time_utc},
	{"proto.client-address", "ADDR is the client's address (RFC 5952)", S_ANNOTATED, A,
	 .run = client_address},
	{"proto.client-port", "PORT is the client's own port", S_ANNOTATED, A, .run = client_port},
	{"proto.crlf", "a CR right before the LF is dropped, any other CR kept", S_MESSAGES, A, .run = crlf},
	{"proto.empty", "the empty message is answered", S_MESSAGES, A, .run = empty},
	{"proto.brackets", "[, ] and spaces inside a message are content", S_ANNOTATED, A, .run = brackets},
	{"proto.binary", "every byte value but LF is content", S_MESSAGES, A, .run = binary},
	{"proto.nul", "NUL bytes are content, not the end of the message", S_MESSAGES, A, .run = nul},
	{"proto.split-every-byte", "a message sent one byte per segment", S_MESSAGES, A,
	 .run = split_every_byte},
	{"proto.split-everywhere", "two messages split at every byte", S_MESSAGES, A, .run = split_everywhere},
	{"proto.pipelining", "1,000 messages in one write: each answered once, in order", S_MESSAGES, A,
	 .run = pipelining},
	{"proto.partial-at-eof", "bytes without LF before the client's FIN are a last message", S_MESSAGES, A,
	 .run = partial_at_eof},
	{"proto.close-fin", "after the client's FIN: every reply, then a FIN, no RST", S_CLOSING, A,
	 .run = close_fin},
	{"proto.max-line-minus-1", "a message of max-line - 1 bytes is answered", S_MESSAGES, A,
	 .run = max_line_minus_1},
	{"proto.max-line-exact", "a message of exactly max-line bytes (LF and CRLF) is answered", S_MESSAGES, A,
	 .run = max_line_exact},
	{"proto.max-line-plus-1", "max-line + 1 bytes: ! line-too-long N, then the next message answered",
	 S_ERRORS, A, .run = max_line_plus_1},
	{"proto.max-line-far-over", "a line far over max-line: one error, before its end; then served",
	 S_ERRORS, A, .run = max_line_far_over},
	{"proto.idle-timeout", "an idle connection is closed after {idle_timeout} (1 s), an active one not",
	 S_INTERFACE, A | EL_CONF_IDLE, .idle_timeout = 1, .run = idle_timeout},
	{"proto.log-matches-reply", "the log has each message's reply line, the same TIME, ADDR, PORT and MSG; "
	 "events on \"# \" lines", S_LOG, A | EL_CONF_LOG | EL_CONF_OWN, .run = log_matches_reply},
	{"proto.log-escapes", "the log writes MSG's bytes outside 0x20..0x7E as \\xhh, a backslash as \\\\",
	 S_LOG, A | EL_CONF_LOG | EL_CONF_OWN, .run = log_escapes},
	{"proto.raw-echo", "1 MiB of random bytes echoed byte for byte, then a FIN", S_RAW, EL_CONF_RAW,
	 .run = raw_echo},
	{"proto.raw-no-framing", "raw mode has no framing: any split, LF, CR and NUL are bytes", S_RAW,
	 EL_CONF_RAW, .run = raw_no_framing},
	{"conc.concurrency", "10 clients at once: served together or one at a time (measured)", S_TRANSPORT, 0,
	 .run = concurrency},
	{"conc.many-clients", "50 clients, 5 messages each, every reply to its own client", S_TRANSPORT, 0,
	 .run = many_clients},
	{"conc.busy", "at {max_conns} (2) the next client gets ! busy and a FIN", S_ERRORS,
	 A | EL_CONF_MAX_CONNS | EL_CONF_OWN, .max_conns = 2, .run = busy},
	{"robust.reset-mid-reply", "20 clients reset with replies due; the server serves on", S_CLOSING, 0,
	 .run = reset_mid_reply},
	{"robust.never-reads", "a client that never reads: memory bounded, others served", S_CLOSING, 0,
	 .run = never_reads},
	{"robust.slowloris", "connections that send nothing are closed at {idle_timeout}", S_INTERFACE,
	 EL_CONF_IDLE | EL_CONF_OWN, .idle_timeout = 1, .run = slowloris},
	{"robust.connect-storm", "500 connects at once, then gone; the server serves on", S_TRANSPORT, 0,
	 .run = connect_storm},
	{"robust.fuzz", "3 s of random streams (echolab-netfuzz's generator), every reply checked", S_MESSAGES,
	 A, .run = fuzz},
	{"life.sigterm-in-flight", "SIGTERM with 2,000 messages in flight (measured)", S_CLOSING,
	 EL_CONF_OWN | EL_CONF_STARTED, .run = sigterm_in_flight},
	{"wire.clean-close", "on the wire: each handshake complete, a FIN each way, no RST", S_CLOSING,
	 EL_CONF_ROOT, .run = clean_close},
	{"wire.backlog-1", "the lab's experiment: SYNs sent again under {backlog} 1 (measured)", S_TRANSPORT,
	 EL_CONF_ROOT | EL_CONF_BACKLOG | EL_CONF_OWN, .backlog = 1, .run = backlog_1},
};
#undef A
const size_t el_conf_ncases = sizeof(el_conf_cases) / sizeof(el_conf_cases[0]);
