/* cli.h: what every program's command line and process need. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

Test(cli, numbers_are_whole_strings_within_bounds)
{
	double d;
	long l;
	cr_expect(el_cli_parse_num("2.5", 0, 10, &d) && d == 2.5);
	cr_expect(!el_cli_parse_num("2.5x", 0, 10, &d));
	cr_expect(!el_cli_parse_num("", 0, 10, &d));
	cr_expect(!el_cli_parse_num("11", 0, 10, &d));
	cr_expect(!el_cli_parse_num("nan", 0, 10, &d));
	cr_expect(!el_cli_parse_num("inf", 0, 1e300, &d));
	cr_expect(!el_cli_parse_num(" 2", 0, 10, &d));
	cr_expect(el_cli_parse_long("65535", 1, 65535, &l) && l == 65535);
	cr_expect(!el_cli_parse_long("65536", 1, 65535, &l));
	cr_expect(!el_cli_parse_long("1.0", 1, 65535, &l));
	cr_expect(!el_cli_parse_long(" 7", 1, 65535, &l));
}

Test(cli, host_and_port)
{
	static const struct {
		const char *text, *host;
		unsigned port;
	} good[] = {
		{"127.0.0.1:7000", "127.0.0.1", 7000},
		{"[::1]:7000", "::1", 7000},
		{"localhost:1", "localhost", 1},
		{"[fe80::1%lo]:65535", "fe80::1%lo", 65535},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char host[64] = "";
		unsigned port = 0;
		cr_expect(el_cli_parse_hostport(good[i].text, host, sizeof(host), &port), "%s", good[i].text);
		cr_expect_str_eq(host, good[i].host, "%s", good[i].text);
		cr_expect_eq(port, good[i].port, "%s", good[i].text);
	}
	const char *bad[] = {"nowhere", ":7000", "host:", "host:0", "host:65536", "host:7000.5", "::1:7000",
			     "[::1:7000", "[]:7000", "host:7x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char host[64] = "untouched";
		unsigned port = 9;
		cr_expect(!el_cli_parse_hostport(bad[i], host, sizeof(host), &port), "%s was taken", bad[i]);
		cr_expect_str_eq(host, "untouched", "%s", bad[i]);
		cr_expect_eq(port, 9u, "%s", bad[i]);
	}
	char small[4];
	unsigned port;
	cr_expect(!el_cli_parse_hostport("example.org:80", small, sizeof(small), &port), "a host cut short");
}

Test(cli, shell_words_paste_back)
{
	static const struct {
		const char *word, *quoted;
	} cases[] = {
		{"plain-word_1.2/x:y@z%+=,", "plain-word_1.2/x:y@z%+=,"},
		{"a b", "'a b'"},
		{"{port}", "'{port}'"},
		{"it's", "'it'\\''s'"},
		{"'a b'", "\\''a b'\\'"},
		{"", "''"},
		{"$HOME", "'$HOME'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[256] = "";
		cr_expect_eq(el_cli_shell_word(out, sizeof(out), cases[i].word), 0);
		cr_expect_str_eq(out, cases[i].quoted, "%s", cases[i].word);
	}
	char *argv[] = {"echolab-conform", "--server-cmd", "/tmp/s/server {port}"};
	char line[128];
	cr_expect_eq(el_cli_shell_line(line, sizeof(line), 3, argv), 0);
	cr_expect_str_eq(line, "echolab-conform --server-cmd '/tmp/s/server {port}'");
	char tiny[60];
	cr_expect_eq(el_cli_shell_line(tiny, sizeof(tiny), 3, argv), -ENAMETOOLONG);
	cr_expect_str_eq(tiny, "echolab-conform --server-cmd", "the words that fit, whole");
}

/* The soft limit goes up to what was asked, or to the hard limit, never
 * down. */
Test(cli, the_fd_limit_is_raised)
{
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rlim_t hard = rl.rlim_max;
	rl.rlim_cur = 64;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_expect_eq(el_cli_raise_nofile(100), 100);
	cr_expect_eq(el_cli_raise_nofile(80), 100, "lowered");
	long all = el_cli_raise_nofile(0);
	cr_expect(hard == RLIM_INFINITY ? all == -1 : all == (long)hard, "%ld, the hard limit %ld", all,
		  (long)hard);
}

/* The CPUs are the affinity mask's, in order: narrowed to one, one. */
Test(cli, the_cpus_are_the_masks)
{
	int cpus[CPU_SETSIZE];
	int n = el_cli_allowed_cpus(cpus, CPU_SETSIZE);
	cr_assert_gt(n, 0);
	for (int i = 1; i < n; i++)
		cr_expect_gt(cpus[i], cpus[i - 1]);
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpus[n - 1], &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	int only[4];
	cr_expect_eq(el_cli_allowed_cpus(only, 4), 1);
	cr_expect_eq(only[0], cpus[n - 1]);
	cr_expect_eq(el_cli_allowed_cpus(only, 0), 0, "max 0: none written");
}
