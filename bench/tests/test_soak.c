/* echolab-bench --soak fails a server whose memory grows: the same short
 * soak passes the clean server and fails it with a planted leak
 * (leakshim.c preloaded: 256 bytes kept per socket read). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int soak(const char *preload, char *out, size_t len)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "d=$(mktemp -d) && %s%s %s --soak --models epoll --clients 20 --duration 12 --out \"$d\" 2>&1; "
		 "rc=$?; rm -rf \"$d\"; exit $rc",
		 preload ? "LD_PRELOAD=" : "", preload ? preload : "", getenv("ECHOLAB_BENCH"));
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(soak, fails_on_a_planted_leak_and_passes_without, .timeout = 180)
{
	static char clean[65536], leaky[65536];
	int rc = soak(NULL, clean, sizeof(clean));
	cr_expect_eq(rc, 0, "the clean soak failed:\n%s", clean);
	rc = soak(getenv("ECHOLAB_LEAKSHIM"), leaky, sizeof(leaky));
	cr_expect_eq(rc, 1, "the planted leak passed the soak:\n%s", leaky);
	cr_expect_not_null(strstr(leaky, "RSS"), "the failure does not name RSS:\n%s", leaky);
}
