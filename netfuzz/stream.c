/* The network fuzzer's streams: what each connection sends, drawn from
 * its own seed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* splitmix64: turns the run's seed and a connection's index into that
 * connection's own seed, and draws its numbers. */
uint64_t nf_mix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t nf_conn_seed(uint64_t seed, long index)
{
	uint64_t s = seed ^ ((uint64_t)index * 0xd1b54a32d192ed03ULL);
	return nf_mix(&s);
}

/* A number in 0..n-1. */
size_t nf_below(uint64_t *rng, size_t n)
{
	return n ? (size_t)(nf_mix(rng) % n) : 0;
}

int nf_buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *q = realloc(b->p, cap);
		if (!q)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* --- the streams ------------------------------------------------------- */

static int put_bytes(struct buf *b, uint64_t *rng, size_t n, int kind)
{
	static const uint8_t tricky[] = {'\r', '\r', '[', ']', ' ', '\\', 0, 'a', 0x1b, 0xff};
	for (size_t i = 0; i < n; i++) {
		uint8_t c;
		if (kind == 0)
			c = (uint8_t)(0x20 + nf_below(rng, 95)); /* printable */
		else if (kind == 1)
			do
				c = (uint8_t)nf_below(rng, 256); /* any byte but LF */
			while (c == '\n');
		else
			c = tricky[nf_below(rng, sizeof(tricky))];
		if (nf_buf_put(b, &c, 1) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* One message body of a random kind and length. */
static int gen_body(struct buf *b, uint64_t *rng, size_t max_line)
{
	size_t k = nf_below(rng, 100), n;
	if (k < 35)
		n = nf_below(rng, 64);
	else if (k < 55)
		n = nf_below(rng, 300);
	else if (k < 70) /* at the limit: max-line - 2 .. max-line + 2 */
		n = max_line + nf_below(rng, 5) - (max_line >= 2 ? 2 : max_line);
	else if (k < 80) /* over it */
		n = max_line + 3 + nf_below(rng, 2 * max_line);
	else if (k < 82) /* a flood: one line of up to 256 KiB */
		n = 64 * 1024 + nf_below(rng, 192 * 1024);
	else if (k < 92)
		n = nf_below(rng, 16);
	else
		n = 0;
	return put_bytes(b, rng, n, (int)nf_below(rng, 3));
}

int nf_gen_stream(struct conn *c, size_t max_line)
{
	uint64_t *rng = &c->rng;
	c->stream.len = 0;
	size_t nmsg = nf_below(rng, 10) == 0 ? nf_below(rng, 200) : nf_below(rng, 24);
	for (size_t i = 0; i < nmsg; i++) {
		if (gen_body(&c->stream, rng, max_line) < 0)
			return -ENOMEM;
		const char *term = nf_below(rng, 10) < 6 ? "\n" : "\r\n";
		if (nf_buf_put(&c->stream, term, strlen(term)) < 0)
			return -ENOMEM;
	}
	c->messages = (long)nmsg;
	size_t k = nf_below(rng, 100);
	c->ending = k < 55 ? END_FIN : k < 70 ? END_FIN_PARTIAL : k < 88 ? END_RESET : END_UNREAD;
	if (c->ending == END_FIN_PARTIAL) {
		size_t before = c->stream.len;
		if (gen_body(&c->stream, rng, max_line) < 0)
			return -ENOMEM;
		if (c->stream.len == before && nf_buf_put(&c->stream, "x", 1) < 0)
			return -ENOMEM;
		if (nf_below(rng, 4) == 0 && nf_buf_put(&c->stream, "\r", 1) < 0)
			return -ENOMEM; /* a CR at EOF is content */
	}
	c->stop_at = c->ending == END_RESET ? nf_below(rng, c->stream.len + 1) : c->stream.len;
	nf_gen_items(c, max_line, c->ending == END_FIN || c->ending == END_FIN_PARTIAL);
	return c->items || c->nitems == 0 ? 0 : -ENOMEM;
}

