/* el_json_string: whatever the bytes, the output is one valid JSON string
 * that reads back as them (UTF-8 kept, other bytes as their Latin-1). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static char *json(const void *s, size_t len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	cr_assert_not_null(f);
	el_json_string(f, s, len);
	fclose(f);
	return buf;
}

Test(json, escapes_and_keeps_as_the_table_says)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{"plain", 5, "\"plain\""},
		{"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
		{"tab\tnl\ncr\r", 10, "\"tab\\tnl\\ncr\\u000d\""},
		{"nul\0x", 5, "\"nul\\u0000x\""},
		{"del\x7f", 4, "\"del\\u007f\""},
		{"caf\xc3\xa9", 5, "\"caf\xc3\xa9\""},             /* UTF-8 kept */
		{"\xe2\x82\xac", 3, "\"\xe2\x82\xac\""},            /* the euro sign */
		{"\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\""},    /* 4 bytes */
		{"\xff", 1, "\"\\u00ff\""},                           /* never UTF-8 */
		{"\xc3", 1, "\"\\u00c3\""},                           /* cut short */
		{"\xc0\xaf", 2, "\"\\u00c0\\u00af\""},                /* overlong */
		{"\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\""},     /* a surrogate */
		{"\xf4\x90\x80\x80", 4, "\"\\u00f4\\u0090\\u0080\\u0080\""}, /* past U+10FFFF */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = json(cases[i].in, cases[i].len);
		cr_expect_str_eq(got, cases[i].out, "case %zu", i);
		free(got);
	}
}

Test(json, every_byte_value_gives_printable_ascii_or_utf8)
{
	unsigned char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	char *got = json(all, sizeof(all));
	size_t n = strlen(got);
	cr_assert_gt(n, 256);
	for (size_t i = 0; i < n; i++)
		cr_expect((unsigned char)got[i] >= 0x20 && (unsigned char)got[i] < 0x7f, "byte %zu: %#x", i,
			  (unsigned char)got[i]);
	free(got);
}
