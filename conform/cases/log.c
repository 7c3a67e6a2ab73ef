/* The proto.log cases: the server's log against what it answered.
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
			cf_sleep_ms(20);
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

void el_case_log_matches_reply(struct el_conf_ctx *x)
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

void el_case_log_escapes(struct el_conf_ctx *x)
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
