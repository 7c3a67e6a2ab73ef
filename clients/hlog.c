/* HdrHistogram's interval log (hlog.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hlog.h"

/* The V2 encodings' cookies, word size 8 (0x10) included. */
#define COOKIE_V2 0x1c849313u
#define COOKIE_V2_COMPRESSED 0x1c849314u
#define HEADER_BYTES 40

static size_t put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return 4;
}

static size_t put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
	return 8;
}

/* ZigZag, then LEB128: a count c as 2c, a run of n empty buckets as
 * 2n - 1 (that is, -n). */
static size_t put_zigzag(uint8_t *p, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	size_t n = 0;
	do {
		uint8_t b = z & 0x7f;
		z >>= 7;
		p[n++] = (uint8_t)(b | (z ? 0x80 : 0));
	} while (z && n < 9);
	return n;
}

/* The uncompressed V2 encoding of h into buf (room: HEADER_BYTES + 9 per
 * bucket). Returns its length. */
static size_t encode_v2(const struct el_hist *h, uint8_t *buf)
{
	size_t last = 0;
	bool any = false;
	for (size_t i = 0; i < EL_HIST_BUCKETS; i++)
		if (h->counts[i]) {
			last = i;
			any = true;
		}
	uint8_t *p = buf + HEADER_BYTES;
	size_t zeros = 0;
	for (size_t i = 0; any && i <= last; i++) {
		if (h->counts[i] == 0) {
			zeros++;
			continue;
		}
		if (zeros)
			p += put_zigzag(p, -(int64_t)zeros);
		zeros = 0;
		p += put_zigzag(p, (int64_t)h->counts[i]);
	}
	size_t payload = (size_t)(p - buf) - HEADER_BYTES;
	uint8_t *q = buf;
	q += put32(q, COOKIE_V2);
	q += put32(q, (uint32_t)payload);
	q += put32(q, 0);                                     /* normalizing index offset */
	q += put32(q, 2);                                     /* significant digits */
	q += put64(q, 1);                                     /* lowest discernible value */
	q += put64(q, (uint64_t)1 << EL_HIST_MAX_BITS);       /* highest trackable value */
	double one = 1.0;                                     /* integer to double ratio */
	uint64_t bits;
	memcpy(&bits, &one, sizeof(bits));
	put64(q, bits);
	return HEADER_BYTES + payload;
}

/* data as a zlib stream of stored blocks (RFC 1950/1951) into out. */
static size_t zlib_stored(const uint8_t *data, size_t len, uint8_t *out)
{
	uint8_t *p = out;
	*p++ = 0x78; /* deflate, 32K window */
	*p++ = 0x01; /* no dictionary, fastest; (0x78 << 8 | 0x01) % 31 == 0 */
	size_t off = 0;
	do {
		size_t n = len - off > 65535 ? 65535 : len - off;
		*p++ = off + n == len ? 1 : 0; /* BFINAL, BTYPE 00 (stored) */
		*p++ = (uint8_t)n;
		*p++ = (uint8_t)(n >> 8);
		*p++ = (uint8_t)~n;
		*p++ = (uint8_t)(~n >> 8);
		memcpy(p, data + off, n);
		p += n;
		off += n;
	} while (off < len);
	uint32_t a = 1, b = 0;
	for (size_t i = 0; i < len; i++) {
		a = (a + data[i]) % 65521;
		b = (b + a) % 65521;
	}
	p += put32(p, b << 16 | a);
	return (size_t)(p - out);
}

static size_t base64(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);
		out[o++] = digits[v >> 18 & 63];
		out[o++] = digits[v >> 12 & 63];
		out[o++] = i + 1 < len ? digits[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? digits[v & 63] : '=';
	}
	out[o] = 0;
	return o;
}

long el_hlog_encode(const struct el_hist *h, char *out, size_t len)
{
	size_t raw_cap = HEADER_BYTES + 9 * EL_HIST_BUCKETS;
	size_t z_cap = raw_cap + 5 * (raw_cap / 65535 + 1) + 6;
	uint8_t *raw = malloc(raw_cap), *z = malloc(8 + z_cap);
	long rc = -ENOMEM;
	if (raw && z) {
		size_t n = encode_v2(h, raw);
		size_t zn = zlib_stored(raw, n, z + 8);
		put32(z, COOKIE_V2_COMPRESSED);
		put32(z + 4, (uint32_t)zn);
		size_t total = 8 + zn;
		rc = (total + 2) / 3 * 4 + 1 > len ? -ENOSPC : (long)base64(z, total, out);
	}
	free(raw);
	free(z);
	return rc;
}

int el_hlog_open(struct el_hlog *log, const char *path, double base_unix)
{
	log->f = fopen(path, "w");
	if (!log->f)
		return -errno;
	log->base_unix = base_unix;
	time_t t = (time_t)base_unix;
	struct tm tm;
	char when[64];
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a %b %d %H:%M:%S UTC %Y", &tm);
	fprintf(log->f, "#[Histogram log format version 1.3]\n");
	fprintf(log->f, "#[StartTime: %.3f (seconds since epoch), %s]\n", base_unix, when);
	fprintf(log->f, "#[BaseTime: %.3f (seconds since epoch)]\n", base_unix);
	fprintf(log->f, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n");
	return 0;
}

int el_hlog_interval(struct el_hlog *log, double start_unix, double len_s, const struct el_hist *h)
{
	static char text[(8 + 2 * (40 + 9 * EL_HIST_BUCKETS)) / 3 * 4 + 64];
	long n = el_hlog_encode(h, text, sizeof(text));
	if (n < 0)
		return (int)n;
	/* The interval's largest value: its highest bucket's top, in seconds
	 * (HdrHistogram's logs give Interval_Max in value units / 10^6). */
	int64_t max = 0;
	for (size_t i = EL_HIST_BUCKETS; i-- > 0;)
		if (h->counts[i]) {
			max = el_hist_highest(i);
			break;
		}
	fprintf(log->f, "%.3f,%.3f,%.3f,%s\n", start_unix - log->base_unix, len_s, (double)max / 1e6, text);
	return ferror(log->f) ? -EIO : 0;
}

int el_hlog_close(struct el_hlog *log)
{
	if (!log->f)
		return 0;
	int bad = ferror(log->f);
	int rc = fclose(log->f);
	log->f = NULL;
	return bad || rc ? -EIO : 0;
}
