#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framer.h"

/* Events are written out as text so that a whole run compares as one string:
 * "M<len>:<bytes>" for a message, "T" for too long, "|" between events. The
 * EOF event, if any, is marked with "E" before it. */
struct events {
	char *text;
	size_t len, cap;
};

static void add(struct events *e, const void *data, size_t len)
{
	if (e->len + len + 1 > e->cap) {
		e->cap = (e->len + len + 1) * 2;
		e->text = realloc(e->text, e->cap);
		cr_assert_not_null(e->text);
	}
	memcpy(e->text + e->len, data, len);
	e->len += len;
	e->text[e->len] = '\0';
}

static void add_event(struct events *e, int ev, const uint8_t *msg, size_t len)
{
	char head[32];
	if (ev == EL_FRAMER_MESSAGE) {
		int n = snprintf(head, sizeof(head), "M%zu:", len);
		add(e, head, (size_t)n);
		add(e, msg, len);
	} else {
		add(e, "T", 1);
	}
	add(e, "|", 1);
}

/* Feeds input in chunks of `step` bytes (0: all at once, -1: random sizes
 * from seed), then EOF, and returns the events. */
static struct events run(size_t max_line, const char *input, size_t len, long step, unsigned seed)
{
	struct el_framer f;
	struct events e = {0};
	add(&e, "", 0);
	cr_assert_eq(el_framer_init(&f, max_line), 0);
	size_t off = 0;
	while (off < len) {
		size_t n = len - off;
		if (step > 0 && (size_t)step < n)
			n = (size_t)step;
		if (step < 0)
			n = 1 + (size_t)rand_r(&seed) % n;
		/* Copy the chunk so the framer cannot read past it unnoticed
		 * (valgrind and ASan see the exact allocation). */
		uint8_t *chunk = malloc(n);
		memcpy(chunk, input + off, n);
		size_t pos = 0;
		while (pos < n) {
			size_t used = 0;
			const uint8_t *msg = NULL;
			size_t msg_len = 0;
			int ev = el_framer_feed(&f, chunk + pos, n - pos, &used, &msg, &msg_len);
			cr_assert(used > 0 && used <= n - pos, "feed consumed %zu of %zu", used, n - pos);
			pos += used;
			if (ev != EL_FRAMER_NEED_MORE)
				add_event(&e, ev, msg, msg_len);
			else
				cr_assert_eq(pos, n, "NEED_MORE before the chunk was consumed");
		}
		free(chunk);
		off += n;
	}
	const uint8_t *msg = NULL;
	size_t msg_len = 0;
	int ev = el_framer_eof(&f, &msg, &msg_len);
	if (ev != EL_FRAMER_NEED_MORE) {
		add(&e, "E", 1);
		add_event(&e, ev, msg, msg_len);
	}
	cr_assert_leq(f.cap, max_line + 1, "framer buffer grew past max_line + 1");
	el_framer_finish(&f);
	return e;
}

struct framer_case {
	const char *name;
	size_t max_line;
	const char *input;
	size_t input_len;
	const char *expect;
	size_t expect_len;
};

#define S(s) s, sizeof(s) - 1

static const struct framer_case cases[] = {
	{"plain", 8192, S("hello\n"), S("M5:hello|")},
	{"crlf", 8192, S("hello\r\n"), S("M5:hello|")},
	{"two_messages", 8192, S("a\nbc\n"), S("M1:a|M2:bc|")},
	{"empty", 8192, S("\n"), S("M0:|")},
	{"empty_crlf", 8192, S("\r\n"), S("M0:|")},
	{"three_empty", 8192, S("\n\n\n"), S("M0:|M0:|M0:|")},
	{"cr_inside", 8192, S("a\rb\n"), S("M3:a\rb|")},
	{"two_cr_keeps_one", 8192, S("x\r\r\n"), S("M2:x\r|")},
	{"lone_cr_only_content", 8192, S("\r\r\n"), S("M1:\r|")},
	{"nul", 8192, S("a\0b\n"), S("M3:a\0b|")},
	{"bracket_last", 8192, S("a]\n"), S("M2:a]|")},
	{"brackets", 8192, S("[x] ]y[\n"), S("M7:[x] ]y[|")},
	{"eof_partial", 8192, S("tail"), S("EM4:tail|")},
	{"eof_after_message", 8192, S("a\nb"), S("M1:a|EM1:b|")},
	{"eof_trailing_cr_is_content", 8192, S("ab\r"), S("EM3:ab\r|")},
	{"eof_nothing", 8192, S(""), S("")},
	{"exactly_max", 4, S("abcd\n"), S("M4:abcd|")},
	{"exactly_max_crlf", 4, S("abcd\r\n"), S("M4:abcd|")},
	{"max_plus_one", 4, S("abcde\nok\n"), S("T|M2:ok|")},
	{"max_plus_one_crlf", 4, S("abcde\r\nok\n"), S("T|M2:ok|")},
	{"max_then_cr_then_byte", 4, S("abcd\rx\nok\n"), S("T|M2:ok|")},
	{"long_line_one_error", 4, S("0123456789abcdef\nok\n"), S("T|M2:ok|")},
	{"long_line_at_eof", 4, S("0123456789"), S("T|")},
	{"max_with_cr_at_eof", 4, S("abcd\r"), S("ET|")},
	{"exactly_max_at_eof", 4, S("abcd"), S("EM4:abcd|")},
	{"max_line_one", 1, S("a\n\nab\nb\n"), S("M1:a|M0:|T|M1:b|")},
	{"long_then_empty", 2, S("abc\n\n"), S("T|M0:|")},
	{"two_long_lines", 2, S("abc\nxyz\nq\n"), S("T|T|M1:q|")},
};

Test(framer, table_whole_bytewise_and_random_splits)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct framer_case *c = &cases[i];
		long steps[] = {0, 1, 2, 3, 7};
		for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
			struct events e = run(c->max_line, c->input, c->input_len, steps[s], 0);
			cr_expect(e.len == c->expect_len && memcmp(e.text, c->expect, e.len) == 0,
				  "case %s, step %ld: got \"%s\", want \"%s\"", c->name, steps[s],
				  e.text, c->expect);
			free(e.text);
		}
		for (unsigned seed = 1; seed <= 20; seed++) {
			struct events e = run(c->max_line, c->input, c->input_len, -1, seed);
			cr_expect(e.len == c->expect_len && memcmp(e.text, c->expect, e.len) == 0,
				  "case %s, random split %u: got \"%s\"", c->name, seed, e.text);
			free(e.text);
		}
	}
}

Test(framer, rejects_max_line_out_of_range)
{
	struct el_framer f;
	cr_expect_eq(el_framer_init(&f, 0), -EINVAL);
	cr_expect_eq(el_framer_init(&f, EL_FRAMER_MAX_LINE_LIMIT + 1), -EINVAL);
	cr_expect_eq(el_framer_init(&f, EL_FRAMER_MAX_LINE_LIMIT), 0);
	el_framer_finish(&f);
	el_framer_finish(NULL);
}

Test(framer, all_byte_values_but_lf_are_content)
{
	char in[256];
	size_t n = 0;
	for (int b = 0; b < 256; b++)
		if (b != '\n')
			in[n++] = (char)b;
	in[n++] = '\n';
	for (long step = 0; step <= 1; step++) {
		struct events e = run(8192, in, n, step, 0);
		cr_assert_eq(memcmp(e.text, "M255:", 5), 0, "got %s", e.text);
		cr_assert_eq(memcmp(e.text + 5, in, 255), 0);
		free(e.text);
	}
}

/* A flood without LF keeps memory at max_line + 1 and reports once. */
Test(framer, endless_line_is_bounded_and_reported_once)
{
	struct el_framer f;
	cr_assert_eq(el_framer_init(&f, 100), 0);
	uint8_t chunk[4096];
	memset(chunk, 'x', sizeof(chunk));
	int errors = 0;
	for (int i = 0; i < 1000; i++) {
		size_t pos = 0;
		while (pos < sizeof(chunk)) {
			size_t used;
			const uint8_t *msg;
			size_t len;
			int ev = el_framer_feed(&f, chunk + pos, sizeof(chunk) - pos, &used, &msg, &len);
			cr_assert_neq(ev, EL_FRAMER_MESSAGE);
			errors += ev == EL_FRAMER_TOO_LONG;
			pos += used;
		}
	}
	cr_expect_eq(errors, 1);
	cr_expect_leq(f.cap, 101);
	el_framer_finish(&f);
}

/* Every long input splits into the same events however it arrives. */
Test(framer, random_streams_same_events_whatever_the_split)
{
	unsigned seed = 12345;
	for (int round = 0; round < 300; round++) {
		size_t len = (size_t)rand_r(&seed) % 600;
		char *in = malloc(len + 1);
		for (size_t i = 0; i < len; i++) {
			int r = rand_r(&seed) % 10;
			in[i] = r == 0 ? '\n' : r == 1 ? '\r' : (char)(rand_r(&seed) & 0xff);
		}
		size_t max_line = 1 + (size_t)rand_r(&seed) % 80;
		struct events whole = run(max_line, in, len, 0, 0);
		struct events bytes = run(max_line, in, len, 1, 0);
		struct events random = run(max_line, in, len, -1, (unsigned)round);
		cr_assert(whole.len == bytes.len && memcmp(whole.text, bytes.text, whole.len) == 0,
			  "round %d: whole and byte-by-byte differ", round);
		cr_assert(whole.len == random.len && memcmp(whole.text, random.text, whole.len) == 0,
			  "round %d: whole and random split differ", round);
		free(whole.text);
		free(bytes.text);
		free(random.text);
		free(in);
	}
}
