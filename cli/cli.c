/* The command-line helpers every program shares: see cli.h. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int el_cli_usage(const char *prog, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s (see --help)\n", prog, text);
	return 2;
}

bool el_cli_parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || isspace((unsigned char)*s) || !isfinite(v) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

bool el_cli_parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || isspace((unsigned char)*s) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int el_cli_shell_word(char *out, size_t len, const char *word)
{
	size_t n = strlen(out), wl = strlen(word);
	bool plain = wl > 0 && strspn(word, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789_@%+=:,./-") == wl;
	/* At worst every byte is a quote (\', 2 bytes) or opens a run ('x'). */
	if (n + 3 * wl + 3 > len)
		return -ENAMETOOLONG;
	if (plain) {
		memcpy(out + n, word, wl + 1);
		return 0;
	}
	if (wl == 0) {
		memcpy(out + n, "''", 3);
		return 0;
	}
	/* Runs without ' in single quotes, each ' as \' between them. */
	bool open = false;
	for (const char *p = word; *p; p++) {
		if (*p == '\'') {
			if (open)
				out[n++] = '\'';
			open = false;
			out[n++] = '\\';
			out[n++] = '\'';
			continue;
		}
		if (!open)
			out[n++] = '\'';
		open = true;
		out[n++] = *p;
	}
	if (open)
		out[n++] = '\'';
	out[n] = 0;
	return 0;
}

int el_cli_shell_line(char *out, size_t len, int argc, char *const argv[])
{
	if (len == 0)
		return -ENAMETOOLONG;
	out[0] = 0;
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(out);
		if (i > 0) {
			if (n + 2 > len)
				return -ENAMETOOLONG;
			out[n++] = ' ';
			out[n] = 0;
		}
		if (el_cli_shell_word(out, len, argv[i]) < 0) {
			out[n - (i > 0)] = 0;
			return -ENAMETOOLONG;
		}
	}
	return 0;
}

bool el_cli_parse_hostport(const char *s, char *host, size_t len, unsigned *port)
{
	const char *colon = strrchr(s, ':');
	long p;
	if (!colon || colon == s || !el_cli_parse_long(colon + 1, 1, 65535, &p))
		return false;
	size_t hl = (size_t)(colon - s);
	const char *h = s;
	if (s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			return false;
		h++;
		hl -= 2;
	} else if (memchr(s, ':', hl)) {
		return false; /* an IPv6 address without its brackets */
	}
	if (hl >= len)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (unsigned)p;
	return true;
}
