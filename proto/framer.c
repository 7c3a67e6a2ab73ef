#include "framer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int el_framer_init(struct el_framer *f, size_t max_line)
{
	memset(f, 0, sizeof(*f));
	if (max_line < 1 || max_line > EL_FRAMER_MAX_LINE_LIMIT)
		return -EINVAL;
	f->max_line = max_line;
	return 0;
}

void el_framer_finish(struct el_framer *f)
{
	if (!f)
		return;
	free(f->buf);
	f->buf = NULL;
	f->cap = f->len = 0;
	f->discarding = false;
}

/* The buffer grows with the longest line seen, never past max_line + 1, so
 * idle connections with a large --max-line cost next to nothing. */
static int reserve(struct el_framer *f, size_t need)
{
	if (need <= f->cap)
		return 0;
	size_t cap = f->cap ? f->cap * 2 : 256;
	if (cap < need)
		cap = need;
	if (cap > f->max_line + 1)
		cap = f->max_line + 1;
	uint8_t *buf = realloc(f->buf, cap);
	if (!buf)
		return -ENOMEM;
	f->buf = buf;
	f->cap = cap;
	return 0;
}

static size_t strip_cr(const uint8_t *line, size_t len)
{
	return len > 0 && line[len - 1] == '\r' ? len - 1 : len;
}

int el_framer_feed(struct el_framer *f, const uint8_t *data, size_t len, size_t *used,
		   const uint8_t **msg, size_t *msg_len)
{
	size_t i = 0;

	if (f->discarding) {
		const uint8_t *lf = memchr(data, '\n', len);
		if (!lf) {
			*used = len;
			return EL_FRAMER_NEED_MORE;
		}
		i = (size_t)(lf - data) + 1;
		f->discarding = false;
	}

	const uint8_t *rest = data + i;
	size_t n = len - i;
	const uint8_t *lf = memchr(rest, '\n', n);
	size_t end = lf ? (size_t)(lf - rest) : n;

	/* Fast path: a whole line in the caller's bytes, nothing buffered. */
	if (lf && f->len == 0) {
		size_t content = strip_cr(rest, end);
		*used = i + end + 1;
		if (content > f->max_line)
			return EL_FRAMER_TOO_LONG;
		*msg = rest;
		*msg_len = content;
		return EL_FRAMER_MESSAGE;
	}

	/* One byte past max_line may be buffered only if it is a CR, which a
	 * following LF would turn into part of the terminator. */
	size_t total = f->len + end;
	uint8_t last = end > 0 ? rest[end - 1] : (f->len > 0 ? f->buf[f->len - 1] : 0);
	bool fits = total <= f->max_line || (total == f->max_line + 1 && last == '\r');
	if (fits && reserve(f, total) == 0) {
		if (end > 0)
			memcpy(f->buf + f->len, rest, end);
		f->len = total;
	} else {
		/* Too long (or no memory for it, which is reported the same way
		 * rather than dropping bytes silently). */
		f->len = 0;
		if (lf) {
			*used = i + end + 1;
		} else {
			*used = len;
			f->discarding = true;
		}
		return EL_FRAMER_TOO_LONG;
	}

	if (!lf) {
		*used = len;
		return EL_FRAMER_NEED_MORE;
	}
	*used = i + end + 1;
	*msg = f->buf;
	*msg_len = strip_cr(f->buf, f->len);
	f->len = 0;
	return EL_FRAMER_MESSAGE;
}

int el_framer_eof(struct el_framer *f, const uint8_t **msg, size_t *msg_len)
{
	size_t len = f->len;
	bool discarding = f->discarding;

	f->len = 0;
	f->discarding = false;
	if (discarding || len == 0)
		return EL_FRAMER_NEED_MORE;
	if (len > f->max_line)
		return EL_FRAMER_TOO_LONG;
	*msg = f->buf;
	*msg_len = len;
	return EL_FRAMER_MESSAGE;
}
