/* The spread rule the report's verdicts and --compare share: when a
 * cell's repeats agree, when they fall into two groups, and when a change
 * is beyond what the repeats show. */
#include <criterion/criterion.h>

#include "bench.h"

struct spread_case {
	const char *what;
	double v[5];
	int n;
	bool unstable;
	int groups, low_n, high_n;
};

static const struct spread_case spread_cases[] = {
	{"one repeat: nothing to disagree with", {100}, 1, false, 1, 0, 0},
	{"within 10% of the median", {100, 109, 91}, 3, false, 1, 0, 0},
	{"one repeat 11% off", {100, 111, 100}, 3, true, 2, 2, 1},
	/* The fresh clone's epoll cell: two fast runs and one at a fifth. */
	{"two fast, one slow", {331612, 346262, 70638}, 3, true, 2, 1, 2},
	{"spread evenly: one group, unstable", {100, 75, 50, 125}, 4, true, 1, 0, 0},
	{"five in two modes", {472, 490, 243, 252, 480}, 5, true, 2, 2, 3},
	{"all zero", {0, 0, 0}, 3, false, 1, 0, 0},
};

Test(spread, repeats_agree_or_fall_into_groups)
{
	for (size_t i = 0; i < sizeof(spread_cases) / sizeof(spread_cases[0]); i++) {
		const struct spread_case *c = &spread_cases[i];
		struct bench_spread s;
		bench_spread_of(c->v, c->n, &s);
		cr_expect_eq(s.unstable, c->unstable, "%s: unstable %d", c->what, s.unstable);
		cr_expect_eq(s.groups, c->groups, "%s: %d groups", c->what, s.groups);
		if (c->groups == 2) {
			cr_expect_eq(s.low_n, c->low_n, "%s: %d low", c->what, s.low_n);
			cr_expect_eq(s.high_n, c->high_n, "%s: %d high", c->what, s.high_n);
			cr_expect_lt(s.low_median, s.high_median, "%s", c->what);
		}
	}
}

Test(spread, median_and_worst_distance)
{
	struct bench_spread s;
	bench_spread_of((const double[]){300, 100, 200, 250}, 4, &s);
	cr_expect_float_eq(s.median, 225, 1e-9);
	cr_expect_float_eq(s.min, 100, 1e-9);
	cr_expect_float_eq(s.max, 300, 1e-9);
	cr_expect_float_eq(s.worst_pct, 100.0 * 125 / 225, 1e-9);
}

static struct el_stats of(const double *v, int n)
{
	struct el_stats s;
	el_stats_init(&s);
	for (int i = 0; i < n; i++)
		el_stats_add(&s, v[i]);
	return s;
}

/* Beyond: the whole interval past the smallest change; a wide spread
 * hides a large mean difference; one repeat is not known. */
Test(spread, a_change_counts_only_beyond_the_spread)
{
	struct el_stats a = of((const double[]){100, 101, 99}, 3), b = of((const double[]){80, 81, 79}, 3);
	struct bench_change c = bench_welch(&a, &b);
	cr_expect(c.known);
	cr_expect_float_eq(c.pct, -20, 1e-9);
	cr_expect_eq(bench_change_beyond(&c, BENCH_MIN_CHANGE_PCT), -1, "%.1f to %.1f", c.lo, c.hi);
	c = bench_welch(&b, &a);
	cr_expect_eq(bench_change_beyond(&c, BENCH_MIN_CHANGE_PCT), 1, "%.1f to %.1f", c.lo, c.hi);
	struct el_stats wide = of((const double[]){331612, 346262, 70638}, 3), slow = of((const double[]){300, 310, 305}, 3);
	c = bench_welch(&wide, &slow);
	cr_expect_eq(bench_change_beyond(&c, BENCH_MIN_CHANGE_PCT), 0, "%.1f to %.1f", c.lo, c.hi);
	struct el_stats near = of((const double[]){102, 103, 101}, 3);
	c = bench_welch(&a, &near);
	cr_expect_eq(bench_change_beyond(&c, BENCH_MIN_CHANGE_PCT), 0, "2%% is under the 5%% floor");
	struct el_stats one = of((const double[]){100}, 1);
	c = bench_welch(&one, &a);
	cr_expect_not(c.known);
	cr_expect_eq(bench_change_beyond(&c, BENCH_MIN_CHANGE_PCT), 0);
}
