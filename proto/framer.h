/* Incremental message framer of the echolab protocol (docs/protocol.md).
 *
 * Bytes go in, messages come out, one event per call. A message ends at LF;
 * one CR directly before that LF belongs to the terminator. A message longer
 * than max_line (terminator excluded) is reported once, as soon as it is
 * known to be too long, and its remaining bytes up to and including the next
 * LF are discarded. Memory is bounded by max_line + 1 whatever the input. */
#ifndef EL_FRAMER_H
#define EL_FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EL_FRAMER_MAX_LINE_DEFAULT 8192
#define EL_FRAMER_MAX_LINE_LIMIT (1024 * 1024)

/* Events; EL_FRAMER_NEED_MORE is the "need more bytes" code. */
enum el_framer_event {
	EL_FRAMER_NEED_MORE = 0,
	EL_FRAMER_MESSAGE = 1,
	EL_FRAMER_TOO_LONG = 2,
};

struct el_framer {
	size_t max_line;
	uint8_t *buf;    /* partial message; grows, at most max_line + 1 */
	size_t len;
	size_t cap;
	bool discarding; /* inside an over-long line, until the next LF */
};

/* Returns 0, or -EINVAL if max_line is outside 1..EL_FRAMER_MAX_LINE_LIMIT,
 * or -ENOMEM. */
int el_framer_init(struct el_framer *f, size_t max_line);
/* Frees the buffer; accepts a framer that init never set up if zeroed. */
void el_framer_finish(struct el_framer *f);

/* Consumes bytes from data[0..len) up to and including the first event.
 * *used is set to the bytes consumed.
 * Returns EL_FRAMER_MESSAGE with *msg and *msg_len set (valid until the next
 * call: it points into data or into the framer), EL_FRAMER_TOO_LONG when the
 * current line has just exceeded max_line, or EL_FRAMER_NEED_MORE when all
 * of data was consumed without an event. Never fails. */
int el_framer_feed(struct el_framer *f, const uint8_t *data, size_t len, size_t *used,
		   const uint8_t **msg, size_t *msg_len);

/* The peer sent EOF. Returns EL_FRAMER_MESSAGE with the buffered bytes as a
 * final message (a lone trailing CR is content, since no LF follows it),
 * EL_FRAMER_TOO_LONG if those bytes exceed max_line, or EL_FRAMER_NEED_MORE
 * if nothing is buffered. Resets the framer. */
int el_framer_eof(struct el_framer *f, const uint8_t **msg, size_t *msg_len);

#endif
