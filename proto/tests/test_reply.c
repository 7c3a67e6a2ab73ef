#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

#define S(s) (const uint8_t *)(s), sizeof(s) - 1

Test(time, formats_rfc3339_utc_microseconds)
{
	struct timespec ts = {.tv_sec = 1795473245, .tv_nsec = 971296999};
	char out[EL_TIME_LEN + 1];
	cr_assert_eq(el_time_format(&ts, out), 0);
	cr_expect_str_eq(out, "2026-11-23T22:34:05.971296Z");
	ts = (struct timespec){.tv_sec = 0, .tv_nsec = 0};
	cr_assert_eq(el_time_format(&ts, out), 0);
	cr_expect_str_eq(out, "1970-01-01T00:00:00.000000Z");
}

Test(time, parse_is_the_inverse_and_strict)
{
	struct timespec ts;
	cr_assert_eq(el_time_parse("2026-11-23T22:34:05.971296Z", EL_TIME_LEN, &ts), 0);
	cr_expect_eq(ts.tv_sec, 1795473245);
	cr_expect_eq(ts.tv_nsec, 971296000);
	const char *bad[] = {
		"2026-11-23T22:34:05.971296",  "2026-11-23 22:34:05.971296Z", "2026-13-23T22:34:05.971296Z",
		"2026-02-31T22:34:05.971296Z", "2026-11-23T24:34:05.971296Z", "2026-11-23T22:34:05.97129xZ",
		"2026-11-23T22:34:05,971296Z", "+026-11-23T22:34:05.971296Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(el_time_parse(bad[i], strlen(bad[i]), &ts), -EINVAL, "accepted %s", bad[i]);
	unsigned seed = 7;
	for (int i = 0; i < 1000; i++) {
		struct timespec in = {.tv_sec = rand_r(&seed) % 4000000000L,
				      .tv_nsec = (rand_r(&seed) % 1000000) * 1000L};
		char text[EL_TIME_LEN + 1];
		cr_assert_eq(el_time_format(&in, text), 0);
		cr_assert_eq(el_time_parse(text, EL_TIME_LEN, &ts), 0, "%s", text);
		cr_assert(ts.tv_sec == in.tv_sec && ts.tv_nsec == in.tv_nsec, "%s", text);
	}
}

Test(addr, ipv6_rfc5952_table)
{
	struct {
		const char *in, *want;
	} cases[] = {
		{"::1", "::1"},
		{"::", "::"},
		{"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
		{"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},   /* first of equal runs */
		{"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"}, /* one zero group kept */
		{"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},          /* longest run */
		{"FE80::ABCD", "fe80::abcd"},
		{"1:0:0:0:0:0:0:0", "1::"},
		{"0:0:0:0:0:0:0:2", "::2"},
		{"::1.2.3.4", "::102:304"}, /* not mapped: no dotted quad */
		{"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t bin[16];
		cr_assert_eq(inet_pton(AF_INET6, cases[i].in, bin), 1, "%s", cases[i].in);
		char out[EL_ADDR_STRLEN];
		el_addr_format_ipv6(bin, out);
		cr_expect_str_eq(out, cases[i].want, "%s", cases[i].in);
	}
}

Test(addr, mapped_ipv4_is_plain_ipv4)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(52340)};
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &sa.sin6_addr);
	char out[EL_ADDR_STRLEN];
	unsigned port;
	cr_assert_eq(el_addr_format((struct sockaddr *)&sa, out, &port), 9);
	cr_expect_str_eq(out, "127.0.0.1");
	cr_expect_eq(port, 52340);

	struct sockaddr_in sa4 = {.sin_family = AF_INET, .sin_port = htons(1)};
	inet_pton(AF_INET, "10.0.0.254", &sa4.sin_addr);
	el_addr_format((struct sockaddr *)&sa4, out, &port);
	cr_expect_str_eq(out, "10.0.0.254");
	cr_expect_eq(port, 1);

	struct sockaddr sa_unix = {.sa_family = AF_UNIX};
	cr_expect_eq(el_addr_format(&sa_unix, out, &port), -EAFNOSUPPORT);
}

static struct el_reply_peer peer4(const char *ip, unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, ip, &sa.sin_addr);
	struct el_reply_peer p;
	cr_assert_eq(el_reply_peer_init(&p, (struct sockaddr *)&sa), 0);
	return p;
}

Test(reply, formats_the_protocol_line)
{
	struct el_reply_peer p = peer4("127.0.0.1", 52340);
	const char *t = "2026-11-23T22:34:05.971296Z";
	uint8_t out[256];
	size_t n = el_reply_write(out, t, &p, S("hello"));
	const char want[] = "[2026-11-23T22:34:05.971296Z] [127.0.0.1] [52340] [hello]\n";
	cr_assert_eq(n, sizeof(want) - 1);
	cr_assert_eq(n, el_reply_size(&p, 5));
	cr_expect_eq(memcmp(out, want, n), 0, "%.*s", (int)n, out);

	n = el_reply_write(out, t, &p, (const uint8_t *)"", 0);
	const char empty[] = "[2026-11-23T22:34:05.971296Z] [127.0.0.1] [52340] []\n";
	cr_assert_eq(n, sizeof(empty) - 1, "%zu bytes", n);
	cr_expect_eq(memcmp(out, empty, n), 0, "%.*s", (int)n, out);
}

Test(reply, log_form_escapes_message)
{
	struct el_reply_peer p = peer4("127.0.0.1", 9);
	const char *t = "2026-11-23T22:34:05.971296Z";
	uint8_t out[256];
	const uint8_t msg[] = "a\x1b[31m\\\n\0\x7f\xff~ ";
	size_t n = el_reply_write_log(out, t, &p, msg, sizeof(msg) - 1);
	const char want[] =
		"[2026-11-23T22:34:05.971296Z] [127.0.0.1] [9] [a\\x1b[31m\\\\\\x0a\\x00\\x7f\\xff~ ]\n";
	cr_expect(n == sizeof(want) - 1 && memcmp(out, want, n) == 0, "%.*s", (int)n, out);
}

Test(escape, every_byte)
{
	for (int b = 0; b < 256; b++) {
		uint8_t in = (uint8_t)b;
		char out[4];
		size_t n = el_escape(out, &in, 1);
		if (b == '\\')
			cr_expect(n == 2 && memcmp(out, "\\\\", 2) == 0);
		else if (b >= 0x20 && b <= 0x7e)
			cr_expect(n == 1 && out[0] == b);
		else {
			char want[5];
			snprintf(want, sizeof(want), "\\x%02x", b);
			cr_expect(n == 4 && memcmp(out, want, 4) == 0, "byte %d", b);
		}
	}
}

struct parse_case {
	const char *line;
	int want;
	const char *msg;
};

Test(reply, parse_table)
{
	const struct parse_case cases[] = {
		{"[2026-11-23T22:34:05.971296Z] [127.0.0.1] [52340] [hello]\n", 0, "hello"},
		{"[2026-11-23T22:34:05.971296Z] [127.0.0.1] [52340] [hello]", 0, "hello"},
		{"[2026-11-23T22:34:05.971296Z] [::1] [1] []", 0, ""},
		{"[2026-11-23T22:34:05.971296Z] [::1] [1] []]", 0, "]"},
		{"[2026-11-23T22:34:05.971296Z] [::1] [1] [[a] [b] ]", 0, "[a] [b] "},
		{"[2026-11-23T22:34:05.971296Z] [::1] [65535] [x]\n", 0, "x"},
		{"[2026-11-23T22:34:05.971296Z] [::1] [65536] [x]", EL_REPLY_EPORT, NULL},
		{"[2026-11-23T22:34:05.971296Z] [::1] [] [x]", EL_REPLY_EPORT, NULL},
		{"[2026-11-23T22:34:05.971296Z] [::1] [-1] [x]", EL_REPLY_EPORT, NULL},
		{"[2026-11-23T22:34:05.971296Z] [localhost] [1] [x]", EL_REPLY_EADDR, NULL},
		{"[2026-11-23T22:34:05.971296Z] [] [1] [x]", EL_REPLY_EADDR, NULL},
		{"[2026-11-23 22:34:05.971296Z] [::1] [1] [x]", EL_REPLY_ETIME, NULL},
		{"[2026-11-23T22:34:05.971296Z]  [::1] [1] [x]", EL_REPLY_ESHAPE, NULL},
		{"[2026-11-23T22:34:05.971296Z] [::1] [1] [x", EL_REPLY_ESHAPE, NULL},
		{"[2026-11-23T22:34:05.971296Z] [::1] [1]", EL_REPLY_ESHAPE, NULL},
		{"[2026-11-23T22:34:05.971296Z] [::1] [1] x]", EL_REPLY_ESHAPE, NULL},
		{"hello", EL_REPLY_ESHAPE, NULL},
		{"", EL_REPLY_ESHAPE, NULL},
		{"[", EL_REPLY_ESHAPE, NULL},
		{"! busy\n", EL_REPLY_ESERVER, NULL},
		{"! line-too-long 8192", EL_REPLY_ESERVER, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];
		size_t len = strlen(c->line);
		/* Fed exactly, so a read past the end shows under ASan/valgrind. */
		uint8_t *line = malloc(len ? len : 1);
		memcpy(line, c->line, len);
		struct el_reply r;
		int rc = el_reply_parse(line, len, &r);
		cr_expect_eq(rc, c->want, "%s: got %d (%s)", c->line, rc, el_reply_strerror(rc));
		if (rc == 0 && c->msg) {
			cr_expect(r.msg_len == strlen(c->msg) && memcmp(r.msg, c->msg, r.msg_len) == 0,
				  "%s: msg \"%.*s\"", c->line, (int)r.msg_len, r.msg);
		}
		free(line);
	}
}

Test(reply, parse_error_lines)
{
	unsigned long n = 0;
	cr_expect_eq(el_reply_parse_error(S("! busy\n"), &n), EL_REPLY_BUSY);
	cr_expect_eq(el_reply_parse_error(S("! busy"), &n), EL_REPLY_BUSY);
	cr_expect_eq(el_reply_parse_error(S("! line-too-long 8192\n"), &n), EL_REPLY_LINE_TOO_LONG);
	cr_expect_eq(n, 8192);
	cr_expect_eq(el_reply_parse_error(S("! line-too-long \n"), &n), EL_REPLY_ESHAPE);
	cr_expect_eq(el_reply_parse_error(S("! line-too-long 12x"), &n), EL_REPLY_ESHAPE);
	cr_expect_eq(el_reply_parse_error(S("! busyx"), &n), EL_REPLY_ESHAPE);
	cr_expect_eq(el_reply_parse_error(S("[x]"), &n), EL_REPLY_ESHAPE);
	for (int e = EL_REPLY_ESERVER; e <= 0; e++)
		cr_expect_str_neq(el_reply_strerror(e), "unknown reply error");
}

/* parse(format(x)) == x for random messages without LF, from IPv4 and IPv6
 * peers, fed exactly so that any overread is caught by the sanitizers. */
Test(reply, round_trip_random_messages)
{
	unsigned seed = 99;
	struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6};
	for (int i = 0; i < 2000; i++) {
		struct el_reply_peer p;
		if (i % 2) {
			p = peer4("192.168.1.20", (unsigned)rand_r(&seed) % 65536);
		} else {
			for (int b = 0; b < 16; b++)
				sa6.sin6_addr.s6_addr[b] = rand_r(&seed) % 3 ? 0 : (uint8_t)rand_r(&seed);
			sa6.sin6_port = htons((uint16_t)rand_r(&seed));
			cr_assert_eq(el_reply_peer_init(&p, (struct sockaddr *)&sa6), 0);
		}
		size_t len = (size_t)rand_r(&seed) % 300;
		uint8_t *msg = malloc(len + 1);
		for (size_t k = 0; k < len; k++) {
			int r = rand_r(&seed) % 8;
			msg[k] = r == 0 ? ']' : r == 1 ? '[' : r == 2 ? ' ' : (uint8_t)rand_r(&seed);
			if (msg[k] == '\n')
				msg[k] = 'n';
		}
		struct timespec ts = {.tv_sec = rand_r(&seed), .tv_nsec = (rand_r(&seed) % 1000000) * 1000L};
		char t[EL_TIME_LEN + 1];
		cr_assert_eq(el_time_format(&ts, t), 0);
		size_t size = el_reply_size(&p, len);
		uint8_t *line = malloc(size);
		cr_assert_eq(el_reply_write(line, t, &p, msg, len), size);
		struct el_reply r;
		int rc = el_reply_parse(line, size, &r);
		cr_assert_eq(rc, 0, "%s: %.*s", el_reply_strerror(rc), (int)size, line);
		cr_assert_eq(r.msg_len, len);
		cr_assert_eq(memcmp(r.msg, msg, len), 0);
		cr_assert_eq(r.port, p.port);
		cr_assert_str_eq(r.addr, p.addr);
		cr_assert(r.time.tv_sec == ts.tv_sec && r.time.tv_nsec == ts.tv_nsec);
		free(line);
		free(msg);
	}
}
