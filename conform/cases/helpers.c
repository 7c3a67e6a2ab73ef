/* What the cases are written with (cases.h): the transcript, verdicts
 * that end a case at once (longjmp to the runner), clients that record
 * what they send and receive, and checks of the server's replies. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cases.h"
#include "io.h"
#include "reply.h"

/* The transcript. */
void cf_note(struct el_conf_ctx *x, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = strlen(line);
	if (x->trlen + len + 2 > x->trcap) {
		size_t cap = x->trcap ? 2 * x->trcap : 4096;
		while (cap < x->trlen + len + 2)
			cap *= 2;
		/* A transcript is for reading: past 64 KiB, only the end is kept
		 * growing no further. */
		if (cap > 65536) {
			if (x->trcap >= 65536)
				return;
			cap = 65536;
			if (x->trlen + len + 2 > cap)
				return;
		}
		char *more = realloc(x->tr, cap);
		if (!more)
			return;
		x->tr = more;
		x->trcap = cap;
	}
	memcpy(x->tr + x->trlen, line, len);
	x->trlen += len;
	x->tr[x->trlen++] = '\n';
	x->tr[x->trlen] = 0;
}

void cf_bytes(struct el_conf_ctx *x, const char *who, const void *data, size_t len)
{
	size_t show = len > 160 ? 160 : len;
	char esc[EL_ESCAPE_MAX(160) + 1];
	size_t n = el_escape(esc, data, show);
	esc[n] = 0;
	if (show < len)
		cf_note(x, "%s \"%s\" ... (%zu bytes)", who, esc, len);
	else
		cf_note(x, "%s \"%s\"", who, esc);
}

__attribute__((format(printf, 3, 0))) static void set_verdict(struct el_conf_ctx *x, int verdict, const char *fmt,
								va_list ap)
{
	vsnprintf(x->reason, sizeof(x->reason), fmt, ap);
	x->verdict = verdict;
}

void cf_fail(struct el_conf_ctx *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_verdict(x, EL_CONF_FAIL, fmt, ap);
	va_end(ap);
	longjmp(x->fail, 1);
}

void cf_skip(struct el_conf_ctx *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_verdict(x, EL_CONF_SKIP, fmt, ap);
	va_end(ap);
	longjmp(x->fail, 1);
}

void cf_info(struct el_conf_ctx *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_verdict(x, EL_CONF_INFO, fmt, ap);
	va_end(ap);
}

void cf_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int cf_ms(const struct el_conf_ctx *x, int ms)
{
	return ms * (x->o->slow > 1 ? x->o->slow : 1);
}

int cf_timeout(const struct el_conf_ctx *x)
{
	return cf_ms(x, (int)(x->o->timeout_s * 1000));
}

void *cf_keep(struct el_conf_ctx *x, void *p)
{
	for (int i = 0; i < 8; i++)
		if (!x->scratch[i]) {
			x->scratch[i] = p;
			return p;
		}
	free(p);
	cf_fail(x, "internal: too many buffers in one case");
	return NULL;
}

void el_conf_client_free(struct el_conf_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	el_lines_finish(&c->lines);
	free(c);
}

struct el_conf_client *cf_try_open(struct el_conf_ctx *x, char *err, size_t errlen)
{
	if (x->nclients == (int)(sizeof(x->clients) / sizeof(x->clients[0])))
		cf_fail(x, "internal: more than %d clients in one case", x->nclients);
	struct el_conf_client *c = calloc(1, sizeof(*c));
	if (!c)
		cf_fail(x, "out of memory");
	c->fd = el_client_connect(x->host, x->port, cf_timeout(x), err, errlen);
	if (c->fd < 0) {
		free(c);
		return NULL;
	}
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	getsockname(c->fd, (struct sockaddr *)&sa, &len);
	el_addr_format((struct sockaddr *)&sa, c->addr, &c->port);
	if (el_lines_init(&c->lines, c->fd, (size_t)x->o->max_line + 256) < 0) {
		el_conf_client_free(c);
		cf_fail(x, "out of memory");
	}
	c->n = ++x->nopened;
	clock_gettime(CLOCK_REALTIME, &c->sent_since);
	x->clients[x->nclients++] = c;
	return c;
}

struct el_conf_client *cf_open(struct el_conf_ctx *x)
{
	char err[256];
	struct el_conf_client *c = cf_try_open(x, err, sizeof(err));
	if (!c) {
		cf_note(x, "connect: %s", err);
		cf_fail(x, "could not connect: %s", err);
	}
	return c;
}

void cf_send(struct el_conf_ctx *x, struct el_conf_client *c, const void *data, size_t len)
{
	char who[32];
	snprintf(who, sizeof(who), "c%d >", c->n);
	cf_bytes(x, who, data, len);
	if (c->replied) {
		clock_gettime(CLOCK_REALTIME, &c->sent_since);
		c->replied = false;
	}
	int rc = el_io_write_all(c->fd, data, len, el_io_now_ms() + cf_timeout(x));
	if (rc < 0)
		cf_fail(x, "c%d: sending %zu bytes: %s", c->n, len, strerror(-rc));
}

void cf_send_str(struct el_conf_ctx *x, struct el_conf_client *c, const char *text)
{
	cf_send(x, c, text, strlen(text));
}

ssize_t cf_try_line(struct el_conf_ctx *x, struct el_conf_client *c, const uint8_t **line, int timeout_ms)
{
	size_t rest = 0;
	ssize_t n = el_lines_next(&c->lines, line, &rest, el_io_now_ms() + timeout_ms);
	char who[32];
	snprintf(who, sizeof(who), "c%d <", c->n);
	if (n > 0)
		cf_bytes(x, who, *line, (size_t)n);
	else if (n == 0 && rest)
		cf_bytes(x, "(then the server closed; unterminated:)", *line, rest);
	else if (n == 0)
		cf_note(x, "c%d < (the server closed the connection)", c->n);
	else if (n == -ETIMEDOUT)
		cf_note(x, "c%d < (nothing within %d ms)", c->n, timeout_ms);
	else
		cf_note(x, "c%d < (%s)", c->n, strerror((int)-n));
	return n;
}

size_t cf_line(struct el_conf_ctx *x, struct el_conf_client *c, const uint8_t **line)
{
	ssize_t n = cf_try_line(x, c, line, cf_timeout(x));
	if (n == -ETIMEDOUT)
		cf_fail(x, "c%d: no reply line within %.1f s", c->n, (double)cf_timeout(x) / 1000);
	if (n == 0)
		cf_fail(x, "c%d: the server closed the connection where a reply was due", c->n);
	if (n == -EMSGSIZE)
		cf_fail(x, "c%d: a reply line longer than any reply to a message of at most %ld bytes", c->n,
			x->o->max_line);
	if (n < 0)
		cf_fail(x, "c%d: reading a reply: %s", c->n, strerror((int)-n));
	return (size_t)n;
}

/* Parses an echo reply line; fails the case naming what is wrong. */
static void check_reply(struct el_conf_ctx *x, struct el_conf_client *c, const uint8_t *line, size_t n,
			struct el_reply *r)
{
	int rc = el_reply_parse(line, n, r);
	if (rc == EL_REPLY_ESERVER)
		cf_fail(x, "c%d: an error line where an echo was due", c->n);
	if (rc < 0)
		cf_fail(x, "c%d: not a reply line: %s", c->n, el_reply_strerror(rc));
	if (n == 0 || line[n - 1] != '\n')
		cf_fail(x, "c%d: the reply does not end with LF", c->n);
}

void cf_expect_echo(struct el_conf_ctx *x, struct el_conf_client *c, const void *msg, size_t len)
{
	const uint8_t *line;
	size_t n = cf_line(x, c, &line);
	struct el_reply r;
	check_reply(x, c, line, n, &r);
	if (r.msg_len != len || memcmp(r.msg, msg, len) != 0) {
		cf_bytes(x, "expected MSG", msg, len);
		cf_fail(x, "c%d: MSG is not the message byte for byte (%zu bytes where %zu were sent)", c->n,
			r.msg_len, len);
	}
	if (strcmp(r.addr, c->addr) != 0)
		cf_fail(x, "c%d: ADDR is %s, the client's address is %s", c->n, r.addr, c->addr);
	if (r.port != c->port)
		cf_fail(x, "c%d: PORT is %u, the client's port is %u", c->n, r.port, c->port);
	/* TIME is when the server read the message: after it was sent and
	 * before its reply came, on this clock give or take the skew. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	c->replied = true;
	double t = (double)r.time.tv_sec + (double)r.time.tv_nsec / 1e9;
	double lo = (double)c->sent_since.tv_sec + (double)c->sent_since.tv_nsec / 1e9 - x->o->skew_s;
	double hi = (double)now.tv_sec + (double)now.tv_nsec / 1e9 + x->o->skew_s;
	if (t < lo)
		cf_fail(x, "c%d: TIME is %.3f s before the message was sent by this machine's UTC clock (allowed: %g s)",
			c->n, lo + x->o->skew_s - t, x->o->skew_s);
	if (t > hi)
		cf_fail(x, "c%d: TIME is %.3f s after its reply came by this machine's UTC clock (allowed: %g s)", c->n,
			t - hi + x->o->skew_s, x->o->skew_s);
}

void cf_expect_echo_str(struct el_conf_ctx *x, struct el_conf_client *c, const char *msg)
{
	cf_expect_echo(x, c, msg, strlen(msg));
}

void cf_expect_line(struct el_conf_ctx *x, struct el_conf_client *c, const char *want)
{
	const uint8_t *line;
	size_t n = cf_line(x, c, &line);
	if (n != strlen(want) || memcmp(line, want, n) != 0) {
		cf_bytes(x, "expected", want, strlen(want));
		cf_fail(x, "c%d: expected the line \"%.*s\"", c->n, (int)strcspn(want, "\n"), want);
	}
}

void cf_expect_eof(struct el_conf_ctx *x, struct el_conf_client *c, int timeout_ms)
{
	const uint8_t *line;
	ssize_t n = cf_try_line(x, c, &line, timeout_ms);
	if (n > 0)
		cf_fail(x, "c%d: more data where the server should have closed", c->n);
	if (n == -ETIMEDOUT)
		cf_fail(x, "c%d: the server did not close the connection within %.1f s", c->n,
			(double)timeout_ms / 1000);
	if (n == -ECONNRESET)
		cf_fail(x, "c%d: the server reset the connection (RST) where a FIN was due", c->n);
	if (n < 0)
		cf_fail(x, "c%d: %s where a FIN was due", c->n, strerror((int)-n));
}

void cf_half_close(struct el_conf_ctx *x, struct el_conf_client *c)
{
	cf_note(x, "c%d > (FIN: the client closes its side)", c->n);
	shutdown(c->fd, SHUT_WR);
}

void cf_reset(struct el_conf_ctx *x, struct el_conf_client *c)
{
	cf_note(x, "c%d > (RST)", c->n);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	c->fd = -1;
}

void cf_close(struct el_conf_ctx *x, struct el_conf_client *c)
{
	(void)x;
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
}

/* Raw mode: reads exactly len bytes and compares. */
void cf_expect_bytes(struct el_conf_ctx *x, struct el_conf_client *c, const void *want, size_t len)
{
	uint8_t *got = malloc(len ? len : 1);
	if (!got)
		cf_fail(x, "out of memory");
	size_t have = 0;
	/* What el_lines read ahead comes first. */
	size_t buffered = c->lines.len - c->lines.off;
	if (buffered) {
		have = buffered < len ? buffered : len;
		memcpy(got, c->lines.buf + c->lines.off, have);
		c->lines.off += have;
	}
	int64_t deadline = el_io_now_ms() + cf_timeout(x);
	while (have < len) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int r = el_io_poll(&p, 1, deadline, true);
		if (r <= 0) {
			free(got);
			cf_fail(x, "c%d: %zu of %zu bytes echoed within %.1f s", c->n, have, len,
				(double)cf_timeout(x) / 1000);
		}
		ssize_t n = el_io_read(c->fd, got + have, len - have);
		if (n <= 0) {
			free(got);
			cf_fail(x, "c%d: the connection ended after %zu of %zu bytes (%s)", c->n, have, len,
				n == 0 ? "FIN" : strerror((int)-n));
		}
		have += (size_t)n;
	}
	char who[32];
	snprintf(who, sizeof(who), "c%d <", c->n);
	cf_bytes(x, who, got, len);
	bool same = memcmp(got, want, len) == 0;
	free(got);
	if (!same) {
		cf_bytes(x, "expected", want, len);
		cf_fail(x, "c%d: the bytes echoed are not those sent", c->n);
	}
}

/* One message and its reply in either mode. */
void cf_roundtrip(struct el_conf_ctx *x, struct el_conf_client *c, const char *msg)
{
	if (x->o->raw) {
		cf_send(x, c, msg, strlen(msg));
		cf_expect_bytes(x, c, msg, strlen(msg));
		return;
	}
	char line[512];
	snprintf(line, sizeof(line), "%s\n", msg);
	cf_send_str(x, c, line);
	cf_expect_echo_str(x, c, msg);
}

/* After an attack: a new client is served. */
void cf_fresh_client_served(struct el_conf_ctx *x)
{
	cf_note(x, "-- a fresh client:");
	struct el_conf_client *c = cf_open(x);
	cf_roundtrip(x, c, "still here");
	cf_close(x, c);
}

char *cf_server_log(struct el_conf_ctx *x, size_t *len)
{
	*len = 0;
	if (!x->sup || !x->runner->capturing)
		cf_fail(x, "internal: the case needs EL_CONF_LOG");
	FILE *f = fopen(x->runner->out_path, "r");
	if (!f)
		cf_fail(x, "the server's standard output (%s): %s", x->runner->out_path, strerror(errno));
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			char *more = cap < (64u << 20) ? realloc(buf, 2 * cap + 1) : NULL;
			if (!more)
				break;
			buf = more;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf)
		cf_fail(x, "out of memory");
	buf[n] = 0;
	*len = n;
	return buf;
}
