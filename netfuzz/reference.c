/* The network fuzzer's reference: the replies a stream calls for. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* --- the reference ----------------------------------------------------- */

/* The replies docs/protocol.md and docs/decisions.md 1-5 call for, written
 * from their text: a message ends at LF, one CR before it is terminator,
 * a message over max_line gets the error (as soon as it is known to be too
 * long), and with EOF a non-empty unterminated rest is a final message. */
void nf_gen_items(struct conn *c, size_t max_line, bool eof)
{
	const uint8_t *s = c->stream.p;
	size_t len = c->stream.len, n = 0, start = 0;
	free(c->items);
	c->items = NULL;
	c->nitems = c->next = 0;
	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	c->items = malloc((n + 1) * sizeof(*c->items));
	if (!c->items)
		return;
	n = 0;
	for (size_t i = 0; i <= len; i++) {
		bool lf = i < len && s[i] == '\n';
		size_t mlen = i - start;
		if (i == len) {
			bool known_long = mlen > max_line + 1 || (mlen == max_line + 1 && s[i - 1] != '\r');
			if (mlen > 0 && (eof || known_long))
				c->items[n++] = (struct item){start, mlen, mlen > max_line};
			break;
		}
		if (!lf)
			continue;
		if (mlen > 0 && s[i - 1] == '\r')
			mlen--;
		c->items[n++] = (struct item){start, mlen, mlen > max_line};
		start = i + 1;
	}
	c->nitems = n;
}

