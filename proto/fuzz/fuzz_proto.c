/* libFuzzer target over the framer, the reply formatter and the parser.
 *
 * Input: one byte choosing max_line, then a byte stream. Checked:
 * - the stream framed whole and framed in the splits the input chooses
 *   yields the same events;
 * - no message is longer than max_line or contains LF;
 * - parse(format(message)) gives the message back;
 * - the parsers never crash on the raw bytes. */
#include <assert.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framer.h"
#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct trace {
	uint8_t *bytes;
	size_t len, cap;
};

static void record(struct trace *t, int ev, const uint8_t *msg, size_t len)
{
	size_t need = t->len + len + 1 + sizeof(len);
	if (need > t->cap) {
		t->cap = need * 2;
		t->bytes = realloc(t->bytes, t->cap);
	}
	t->bytes[t->len++] = (uint8_t)ev;
	memcpy(t->bytes + t->len, &len, sizeof(len));
	t->len += sizeof(len);
	if (len)
		memcpy(t->bytes + t->len, msg, len);
	t->len += len;
}

static void check_round_trip(const uint8_t *msg, size_t len)
{
	static const struct sockaddr_in6 sa = {
		.sin6_family = AF_INET6,
		.sin6_port = 0x3930,
		.sin6_addr = {{{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}},
	};
	struct el_reply_peer p;
	el_reply_peer_init(&p, (const struct sockaddr *)&sa);
	size_t size = el_reply_size(&p, len);
	uint8_t *line = malloc(size);
	el_reply_write(line, "2026-11-23T22:34:05.971296Z", &p, msg, len);
	struct el_reply r;
	int rc = el_reply_parse(line, size, &r);
	assert(rc == 0);
	assert(r.msg_len == len && memcmp(r.msg, msg, len) == 0);
	assert(strcmp(r.addr, "2001:db8::1") == 0);
	free(line);
}

/* Frames data; split != NULL gives chunk sizes (cycled). */
static struct trace frame(size_t max_line, const uint8_t *data, size_t size, const uint8_t *split,
			  size_t nsplit, int check)
{
	struct trace t = {0};
	struct el_framer f;
	el_framer_init(&f, max_line);
	size_t off = 0, k = 0;
	while (off < size) {
		size_t n = size - off;
		if (split && nsplit) {
			size_t c = 1 + split[k++ % nsplit] % 16;
			if (c < n)
				n = c;
		}
		/* An exact copy, so a read past the chunk is caught. */
		uint8_t *chunk = malloc(n);
		memcpy(chunk, data + off, n);
		size_t pos = 0;
		while (pos < n) {
			size_t used;
			const uint8_t *msg = NULL;
			size_t len = 0;
			int ev = el_framer_feed(&f, chunk + pos, n - pos, &used, &msg, &len);
			assert(used > 0 && used <= n - pos);
			pos += used;
			if (ev == EL_FRAMER_MESSAGE) {
				assert(len <= max_line);
				assert(!memchr(msg, '\n', len));
				if (check)
					check_round_trip(msg, len);
			}
			if (ev != EL_FRAMER_NEED_MORE)
				record(&t, ev, msg, len);
		}
		free(chunk);
		off += n;
	}
	const uint8_t *msg = NULL;
	size_t len = 0;
	int ev = el_framer_eof(&f, &msg, &len);
	if (ev != EL_FRAMER_NEED_MORE)
		record(&t, ev + 10, msg, len);
	assert(f.cap <= max_line + 1);
	el_framer_finish(&f);
	return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t max_line = 1 + data[0] % 64;
	if (data[0] >= 0xf0)
		max_line = EL_FRAMER_MAX_LINE_DEFAULT;
	data++;
	size--;

	struct trace whole = frame(max_line, data, size, NULL, 0, 1);
	struct trace bytes = frame(max_line, data, size, (const uint8_t *)"\0", 1, 0);
	struct trace split = frame(max_line, data, size, data, size, 0);
	assert(whole.len == bytes.len && memcmp(whole.bytes, bytes.bytes, whole.len) == 0);
	assert(whole.len == split.len && memcmp(whole.bytes, split.bytes, whole.len) == 0);
	free(whole.bytes);
	free(bytes.bytes);
	free(split.bytes);

	/* The parsers take any bytes without crashing. */
	uint8_t *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	struct el_reply r;
	if (el_reply_parse(copy, size, &r) == 0)
		assert(r.msg + r.msg_len <= copy + size);
	unsigned long limit;
	el_reply_parse_error(copy, size, &limit);
	struct timespec ts;
	el_time_parse((const char *)copy, size, &ts);
	free(copy);
	return 0;
}
