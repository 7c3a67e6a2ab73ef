#include "json.h"

#include <stdint.h>
#include <string.h>

/* The length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	size_t len;
	uint32_t cp;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and past U+10FFFF are not UTF-8. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void el_json_string(FILE *f, const void *s, size_t len)
{
	const uint8_t *p = s;
	fputc('"', f);
	for (size_t i = 0; i < len;) {
		uint8_t ch = p[i];
		if (ch == '"' || ch == '\\') {
			fputc('\\', f);
			fputc(ch, f);
		} else if (ch == '\n') {
			fputs("\\n", f);
		} else if (ch == '\t') {
			fputs("\\t", f);
		} else if (ch < 0x20 || ch == 0x7f) {
			fprintf(f, "\\u%04x", ch);
		} else if (ch >= 0x80) {
			size_t n = utf8_len(p + i, len - i);
			if (n == 0) {
				fprintf(f, "\\u%04x", ch);
			} else {
				fwrite(p + i, 1, n, f);
				i += n;
				continue;
			}
		} else {
			fputc(ch, f);
		}
		i++;
	}
	fputc('"', f);
}

void el_json_cstring(FILE *f, const char *s)
{
	el_json_string(f, s ? s : "", s ? strlen(s) : 0);
}
