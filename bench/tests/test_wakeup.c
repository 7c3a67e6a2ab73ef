/* The floor of an open loop on time (bench/wakeup.c): the late share of a
 * wake-up spacing and the fewest wake-ups that keep it, from overshoots
 * chosen so that the answer can be worked out by hand; and bench-wakeup,
 * the program that measures them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "wakeup.h"

#define N 100

static void fill(int64_t *over, int64_t value)
{
	for (int i = 0; i < N; i++)
		over[i] = value;
}

Test(wakeup, late_share_is_the_spacing_past_two_bounds)
{
	int64_t over[N];
	fill(over, 0);
	/* Every 300 us with a 100 us bound: the sends due in the first 100
	 * us after a wake-up's own early window are late. */
	cr_expect_float_eq(el_wake_late_share(over, N, 300, 100), 100.0 / 300, 1e-9);
	cr_expect_float_eq(el_wake_late_share(over, N, 200, 100), 0, 1e-9);
	fill(over, 50);
	cr_expect_float_eq(el_wake_late_share(over, N, 250, 100), 100.0 / 300, 1e-9);
	/* One wake-up in a hundred 10 ms late. */
	over[0] = 10000;
	double share = el_wake_late_share(over, N, 150, 100);
	cr_expect_float_eq(share, (10150.0 - 200) / (99 * 200.0 + 10150), 1e-9);
}

Test(wakeup, the_plan_is_the_longest_spacing_within_the_share)
{
	int64_t over[N];
	/* No overshoot: (s - 200) / s <= 1% up to s = 202. */
	fill(over, 0);
	struct el_wake_plan p = el_wake_plan(over, N, 100, 0.01);
	cr_expect(p.sleeps);
	cr_expect_eq(p.sleep_us, 202);
	cr_expect_float_eq(p.spacing_us, 202, 1e-9);
	cr_expect_leq(p.late_share, 0.01);
	/* A steady 50 us overshoot takes 50 us off the sleep. */
	fill(over, 50);
	p = el_wake_plan(over, N, 100, 0.01);
	cr_expect(p.sleeps);
	cr_expect_eq(p.sleep_us, 152);
	/* None late at all: exactly two bounds apart. */
	fill(over, 0);
	p = el_wake_plan(over, N, 100, 0);
	cr_expect_eq(p.sleep_us, 200);
}

Test(wakeup, a_tail_no_sleep_survives_means_spinning)
{
	int64_t over[N];
	fill(over, 0);
	/* One wake-up in a hundred 10 ms late: at least a third of the
	 * sends late whatever the sleep, so the loop would have to spin. */
	over[N - 1] = 10000;
	struct el_wake_plan p = el_wake_plan(over, N, 100, 0.01);
	cr_expect(!p.sleeps);
	cr_expect(!el_wake_plan(over, 0, 100, 0.01).sleeps, "no samples: no plan");
}

Test(wakeup, the_program_measures_and_plans_each_gap)
{
	char out[4096], err[1024];
	const char *exe = getenv("ECHOLAB_BENCH_WAKEUP");
	cr_assert(exe, "ECHOLAB_BENCH_WAKEUP is not set");
	int rc = th_run_program(exe, "", out, sizeof(out), err, sizeof(err), "--samples", "300", "--gaps",
				"1000,20", NULL);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
	double cpu;
	long samples, p50, p99;
	cr_assert_eq(sscanf(out, "wake_cpu_us=%lf samples=%ld sleep_us=100 overshoot_p50_us=%ld overshoot_p90_us=%*d "
			    "overshoot_p99_us=%ld",
			    &cpu, &samples, &p50, &p99),
		     4, "%s", out);
	cr_expect_gt(cpu, 0, "a wake-up costs something: %s", out);
	cr_expect_eq(samples, 300);
	cr_expect_leq(p50, p99, "%s", out);
	cr_expect(strstr(out, "\ngap_us=1000 bound_us=100 sleeps="), "%s", out);
	/* A 2 us bound: no timer keeps 99% within it; the loop spins. */
	cr_expect(strstr(out, "\ngap_us=20 bound_us=2 sleeps=no wake_cpu_s_per_s=1.000\n"), "%s", out);
}

Test(wakeup, bad_arguments_are_one_line_and_exit_2)
{
	const char *exe = getenv("ECHOLAB_BENCH_WAKEUP");
	cr_assert(exe, "ECHOLAB_BENCH_WAKEUP is not set");
	const char *bad[][2] = {{"--samples", "0"}, {"--gaps", "1000,x"}, {"--late-share", "1.5"}, {"--nope", "1"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char out[256], err[512];
		int rc = th_run_program(exe, "", out, sizeof(out), err, sizeof(err), bad[i][0], bad[i][1], NULL);
		cr_expect_eq(rc, 2, "%s %s: exit %d", bad[i][0], bad[i][1], rc);
		cr_expect(strncmp(err, "bench-wakeup: ", 14) == 0 && strchr(err, '\n') == err + strlen(err) - 1,
			  "%s %s: one line: %s", bad[i][0], bad[i][1], err);
	}
}
