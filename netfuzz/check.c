/* The network fuzzer's checks: each reply against the reference, and
 * the first failure's account (with its replay). */
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* --- failures ---------------------------------------------------------- */

/* bytes as C-escaped text, at most max bytes of them. */
void nf_show(char *out, size_t size, const uint8_t *p, size_t n, size_t max)
{
	size_t o = 0;
	for (size_t i = 0; i < n && i < max && o + 8 < size; i++) {
		uint8_t b = p[i];
		if (b >= 0x20 && b < 0x7f && b != '\\' && b != '"')
			out[o++] = (char)b;
		else
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", b);
	}
	if (n > max && o + 4 < size)
		o += (size_t)snprintf(out + o, size - o, "...");
	out[o] = 0;
}

static const char *ending_name(enum ending e)
{
	static const char *names[] = {"fin", "fin-partial", "reset", "unread"};
	return names[e];
}

/* Records that connection c broke the protocol, and ends it. */
__attribute__((format(printf, 3, 4))) void nf_fail(struct fuzz *f, struct conn *c,
							 const char *fmt, ...)
{
	if (f->r->failures++ == 0) {
		char what[512];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		snprintf(f->r->first, sizeof(f->r->first),
			 "connection %ld (%s, %zu bytes, %zu replies due; replay: %s%s--seed %llu --conn %ld): %s",
			 c->index, ending_name(c->ending), c->stream.len, c->nitems, f->o->replay ? f->o->replay : "",
			 f->o->replay ? " " : "", (unsigned long long)f->o->seed, c->index, what);
	}
	nf_conn_close(f, c, true);
}


/* --- checking replies -------------------------------------------------- */

static bool is_time(const uint8_t *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	for (int i = 0; i < 27; i++)
		if (shape[i] == 'd' ? t[i] < '0' || t[i] > '9' : t[i] != (uint8_t)shape[i])
			return false;
	return true;
}

/* Checks one complete reply line (LF included) against the next item.
 * Returns false after nf_fail(). */
static bool check_line(struct fuzz *f, struct conn *c, const uint8_t *l, size_t n)
{
	char got[300], want[300];
	if (c->next >= c->nitems) {
		nf_show(got, sizeof(got), l, n, 120);
		nf_fail(f, c, "reply %zu, but only %zu messages: \"%s\"", c->next + 1, c->nitems, got);
		return false;
	}
	const struct item *it = &c->items[c->next];
	if (it->too_long) {
		char e[64];
		int en = snprintf(e, sizeof(e), "! line-too-long %zu\n", f->o->max_line);
		if (n != (size_t)en || memcmp(l, e, n) != 0) {
			nf_show(got, sizeof(got), l, n, 120);
			nf_fail(f, c, "reply %zu: want \"! line-too-long %zu\" for a %zu-byte line, got \"%s\"",
			     c->next + 1, f->o->max_line, it->len, got);
			return false;
		}
		f->r->too_long++;
	} else {
		char mid[96];
		int ml = snprintf(mid, sizeof(mid), "] [%s] [%u] [", c->addr, c->port);
		size_t need = 1 + 27 + (size_t)ml + it->len + 2;
		const uint8_t *m = c->stream.p + it->start;
		if (n != need || l[0] != '[' || !is_time(l + 1) || memcmp(l + 28, mid, (size_t)ml) != 0 ||
		    memcmp(l + 28 + ml, m, it->len) != 0 || l[n - 2] != ']') {
			nf_show(got, sizeof(got), l, n, 120);
			nf_show(want, sizeof(want), m, it->len, 80);
			nf_fail(f, c, "reply %zu: want the echo of \"%s\" (%zu bytes) from %s %u, got \"%s\"",
			     c->next + 1, want, it->len, c->addr, c->port, got);
			return false;
		}
	}
	c->next++;
	f->r->replies++;
	return true;
}

/* Takes received bytes apart into lines. Returns false after nf_fail(). */
bool nf_received(struct fuzz *f, struct conn *c, const uint8_t *p, size_t n)
{
	f->r->bytes_received += n;
	/* The longest valid reply: an echo of max_line bytes. */
	size_t longest = f->o->max_line + 128;
	while (n > 0) {
		const uint8_t *lf = memchr(p, '\n', n);
		size_t take = lf ? (size_t)(lf - p) + 1 : n;
		if (c->line.len + take > longest) {
			nf_fail(f, c, "a reply line longer than %zu bytes", longest);
			return false;
		}
		if (nf_buf_put(&c->line, p, take) < 0) {
			nf_fail(f, c, "out of memory");
			return false;
		}
		p += take;
		n -= take;
		if (lf) {
			if (!check_line(f, c, c->line.p, c->line.len))
				return false;
			c->line.len = 0;
		}
	}
	return true;
}

