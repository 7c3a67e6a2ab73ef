/* The stats and histogram of echolab-load: moments against known vectors,
 * percentiles against sorted exact values, the hgrm writer. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intervals.h"
#include "load.h"
#include "stats.h"

static struct el_hist hist; /* 35 KiB: not on the stack */

Test(stats, moments_of_known_vectors)
{
	static const struct {
		double v[8];
		int n;
		double mean, variance;
	} cases[] = {
		{{2, 4, 4, 4, 5, 5, 7, 9}, 8, 5.0, 4.0},
		{{1, 2, 3, 4}, 4, 2.5, 1.25},
		{{42}, 1, 42.0, 0.0},
		{{-3, 3}, 2, 0.0, 9.0},
		{{1e9, 1e9 + 1, 1e9 + 2}, 3, 1e9 + 1, 2.0 / 3.0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct el_stats s;
		el_stats_init(&s);
		for (int k = 0; k < cases[i].n; k++)
			el_stats_add(&s, cases[i].v[k]);
		cr_expect_float_eq(s.mean, cases[i].mean, 1e-9, "case %zu mean %f", i, s.mean);
		cr_expect_float_eq(el_stats_variance(&s), cases[i].variance, 1e-9, "case %zu variance %f", i,
				   el_stats_variance(&s));
		cr_expect_float_eq(el_stats_stddev(&s), sqrt(cases[i].variance), 1e-9, "case %zu", i);
	}
	struct el_stats empty;
	el_stats_init(&empty);
	cr_expect_eq(empty.n, 0);
	cr_expect_float_eq(el_stats_variance(&empty), 0.0, 1e-12);
}

Test(stats, merge_equals_adding_everything)
{
	srand(7);
	struct el_stats all, a, b;
	el_stats_init(&all);
	el_stats_init(&a);
	el_stats_init(&b);
	for (int i = 0; i < 10000; i++) {
		double x = (double)(rand() % 100000) / 7.0;
		el_stats_add(&all, x);
		el_stats_add(i % 3 ? &a : &b, x);
	}
	el_stats_merge(&a, &b);
	cr_expect_eq(a.n, all.n);
	cr_expect_float_eq(a.mean, all.mean, 1e-9 * all.mean);
	cr_expect_float_eq(el_stats_variance(&a), el_stats_variance(&all), 1e-9 * el_stats_variance(&all));
	cr_expect_float_eq(a.min, all.min, 0.0);
	cr_expect_float_eq(a.max, all.max, 0.0);
}

Test(hist, buckets_cover_every_value_within_precision)
{
	int64_t prev_index = -1;
	for (int64_t v = 0; v < ((int64_t)1 << 40); v = v < 4096 ? v + 1 : v + v / 97 + 1) {
		size_t i = el_hist_index(v);
		cr_assert(el_hist_lowest(i) <= v && v <= el_hist_highest(i), "value %lld in bucket %zu [%lld, %lld]",
			  (long long)v, i, (long long)el_hist_lowest(i), (long long)el_hist_highest(i));
		cr_assert_geq((int64_t)i, prev_index, "buckets are in value order");
		prev_index = (int64_t)i;
		double width = (double)(el_hist_highest(i) - el_hist_lowest(i) + 1);
		cr_assert(width <= 1.0 || width / (double)el_hist_lowest(i) <= 1.0 / 128.0,
			  "bucket %zu is %.0f wide at %lld", i, width, (long long)el_hist_lowest(i));
	}
	cr_expect_lt(el_hist_index(((int64_t)1 << 40) - 1), (size_t)EL_HIST_BUCKETS);
	cr_expect_eq(el_hist_index((int64_t)1 << 50), el_hist_index(((int64_t)1 << 40) - 1));
	cr_expect_eq(el_hist_index(-5), 0);
	/* Consecutive buckets leave no gap. */
	for (size_t i = 1; i < EL_HIST_BUCKETS; i++)
		cr_assert_eq(el_hist_lowest(i), el_hist_highest(i - 1) + 1, "gap before bucket %zu", i);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Exact percentile: the smallest value with at least ceil(p% of n) values
 * at or below it. */
static int64_t exact(const int64_t *sorted, size_t n, double p)
{
	size_t k = (size_t)ceil(p / 100.0 * (double)n);
	return sorted[k == 0 ? 0 : k - 1];
}

Test(hist, percentiles_match_sorted_values_within_one_percent)
{
	enum { N = 200000 };
	static int64_t v[N];
	const char *shapes[] = {"uniform", "exponential", "lognormal", "bimodal"};
	const double pcts[] = {0, 1, 10, 50, 90, 99, 99.9, 99.99, 100};
	srand(12345);
	for (int s = 0; s < 4; s++) {
		el_hist_init(&hist);
		for (int i = 0; i < N; i++) {
			double u = ((double)rand() + 1.0) / ((double)RAND_MAX + 2.0);
			double x = s == 0   ? u * 1e6
				   : s == 1 ? -log(u) * 300.0
				   : s == 2 ? exp(4.0 + 2.0 * sqrt(-2.0 * log(u)) * cos(6.2831853 * u * 7.0))
					    : (i % 10 ? 50.0 + u * 20.0 : 20000.0 + u * 5000.0);
			v[i] = (int64_t)x;
			el_hist_add(&hist, v[i]);
		}
		qsort(v, N, sizeof(v[0]), cmp_i64);
		for (size_t k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++) {
			double want = (double)exact(v, N, pcts[k]);
			double got = el_hist_percentile(&hist, pcts[k]);
			/* docs/clients.md's promise: exact under 256, else within 0.4%
			 * (128 buckets per power of two, the middle of each). */
			double tol = want < 256 ? 0.5 : want * 0.004;
			cr_expect(fabs(got - want) <= tol, "%s p%g: histogram %.1f, exact %.0f", shapes[s], pcts[k],
				  got, want);
		}
		cr_expect_float_eq(el_hist_percentile(&hist, 0), (double)v[0], 0.0, "p0 is the minimum");
		cr_expect_float_eq(el_hist_percentile(&hist, 100), (double)v[N - 1], 0.0, "p100 is the maximum");
	}
}

Test(hist, merged_shards_equal_one_histogram)
{
	static struct el_hist a, b;
	el_hist_init(&hist);
	el_hist_init(&a);
	el_hist_init(&b);
	srand(99);
	for (int i = 0; i < 50000; i++) {
		int64_t x = rand() % 1000000;
		el_hist_add(&hist, x);
		if (i % 2)
			el_hist_add(&a, x);
		else
			el_hist_add_shared(&b, x);
	}
	el_hist_merge(&a, &b);
	cr_expect_eq(a.total, hist.total);
	cr_expect_eq(memcmp(a.counts, hist.counts, sizeof(a.counts)), 0, "same counts");
	for (double p = 0; p <= 100; p += 12.5)
		cr_expect_float_eq(el_hist_percentile(&a, p), el_hist_percentile(&hist, p), 0.0);
	cr_expect_float_eq(el_hist_percentile_live(&a, 50), el_hist_percentile_live(&hist, 50), 0.0);
}

Test(hist, empty_reports_zero)
{
	el_hist_init(&hist);
	cr_expect_float_eq(el_hist_percentile(&hist, 99), 0.0, 0.0);
	cr_expect_float_eq(el_hist_percentile_live(&hist, 99), 0.0, 0.0);
}

/* HdrHistogram's percentile distribution: header, rows of value,
 * percentile, total count, 1/(1-percentile) with both rising, a 100% row
 * with the maximum and the total, and the three summary lines. */
Test(hist, hgrm_is_hdrhistogram_percentile_format)
{
	el_hist_init(&hist);
	for (int i = 1; i <= 1000; i++)
		el_hist_add(&hist, i * 10);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cr_assert_eq(el_hist_write_hgrm(&hist, f, 1000.0), 0);
	fclose(f);
	char *save, *line = strtok_r(text, "\n", &save);
	cr_assert_str_eq(line, "       Value     Percentile TotalCount 1/(1-Percentile)");
	double last_v = -1, last_p = -1;
	long last_c = -1, rows = 0;
	bool hundred = false;
	int summary = 0;
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (line[0] == '#') {
			summary++;
			continue;
		}
		cr_assert(!hundred, "rows after the 100%% row: %s", line);
		double v, p, inv;
		long c;
		int n = sscanf(line, "%lf %lf %ld %lf", &v, &p, &c, &inv);
		cr_assert(n == 4 || n == 3, "bad row: %s", line);
		cr_assert(v >= last_v && p > last_p && c >= last_c, "not rising: %s", line);
		if (n == 4)
			cr_assert_float_eq(inv, 1.0 / (1.0 - p), 0.01 * inv, "%s", line);
		if (n == 3) {
			hundred = true;
			cr_expect_float_eq(p, 1.0, 1e-12);
			cr_expect_eq(c, 1000);
			cr_expect_float_eq(v, 10.0, 1e-9, "max 10000 us is 10 ms");
		}
		if (fabs(p - 0.5) < 1e-9)
			cr_expect(fabs(v - 5.0) <= 0.05, "median %f ms", v);
		last_v = v, last_p = p, last_c = c;
		rows++;
	}
	cr_expect(hundred, "a 100%% row");
	cr_expect_gt(rows, 20);
	cr_expect_eq(summary, 3);
	free(text);
}

/* The arrivals' fit: 10,000 exponential gaps fit their distribution, at
 * the 1% level, in every one of 20 seeds but at most one; a fixed
 * schedule of the same mean, and exponential gaps of a mean 10% off, do
 * not; and the p-value is the distribution's at its known critical
 * values (A^2 2.492 is 5%, 3.857 is 1%, case 0). */
Test(fit, ten_thousand_poisson_gaps_fit_and_a_fixed_schedule_does_not)
{
	size_t n = 10000;
	double *x = malloc(n * sizeof(*x));
	cr_assert_not_null(x);
	int rejected = 0;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		uint64_t st = seed;
		for (size_t i = 0; i < n; i++)
			x[i] = el_rng_exp(&st, 1000);
		double p, a2 = el_fit_ad_exponential(x, n, 1000, 0, &p);
		cr_expect(isfinite(a2) && a2 >= 0, "seed %llu: A2 %g", (unsigned long long)seed, a2);
		rejected += p < 0.01;
	}
	cr_expect_leq(rejected, 1, "%d of 20 exponential samples rejected at 1%%", rejected);
	for (size_t i = 0; i < n; i++)
		x[i] = 1000;
	double p, a2 = el_fit_ad_exponential(x, n, 1000, 0, &p);
	cr_expect(a2 > 100 && p < 1e-6, "a fixed schedule: A2 %g, p %g", a2, p);
	uint64_t st = 99;
	for (size_t i = 0; i < n; i++)
		x[i] = el_rng_exp(&st, 1100);
	a2 = el_fit_ad_exponential(x, n, 1000, 0, &p);
	cr_expect(p < 1e-6, "a mean 10%% off: A2 %g, p %g", a2, p);
	/* Values under the resolution count as the resolution: a clump of
	 * zeros (a clock that cannot tell them apart) no longer dominates. */
	st = 5;
	for (size_t i = 0; i < n; i++)
		x[i] = i < 10 ? 0 : el_rng_exp(&st, 1000);
	double p0, p1;
	el_fit_ad_exponential(x, n, 1000, 0, &p0);
	for (size_t i = 0; i < 10; i++)
		x[i] = 0;
	el_fit_ad_exponential(x, n, 1000, 5, &p1);
	cr_expect(p0 < 0.001 && p1 > 0.01, "ten zeros: p %g unfloored, %g floored at 5", p0, p1);
	free(x);
	double crit[][2] = {{1.933, 0.10}, {2.492, 0.05}, {3.070, 0.025}, {3.857, 0.01}};
	for (size_t i = 0; i < 4; i++)
		cr_expect(fabs(el_fit_ad_p_value(crit[i][0]) - crit[i][1]) < 0.0005, "A2 %.3f: p %.5f, not %.3f",
			  crit[i][0], el_fit_ad_p_value(crit[i][0]), crit[i][1]);
}

/* The intervals' statistics: a 95% interval of known values (Student's t),
 * and Mann-Kendall finding a trend where there is one and none in a
 * shuffled sequence. */
Test(intervals, confidence_and_trend)
{
	double x[] = {10, 12, 9, 11, 13, 10, 12, 11};
	struct el_ci ci;
	cr_assert(el_ci_of(x, 8, &ci));
	/* mean 11, sd 1.309, t(7) 2.365: half 1.0946 */
	cr_expect(fabs(ci.mean - 11) < 1e-9 && fabs(ci.hi - ci.lo - 2 * 1.0946) < 0.001, "%g (%g-%g)", ci.mean,
		  ci.lo, ci.hi);
	cr_expect(!el_ci_of(x, 1, &ci), "one value has no interval");
	double up[20], flat[20], z;
	uint64_t st = 3;
	for (int i = 0; i < 20; i++) {
		up[i] = i + (double)(el_rng_next(&st) % 3);
		flat[i] = (double)(el_rng_next(&st) % 100);
	}
	double p = el_mann_kendall(up, 20, &z);
	cr_expect(p < 1e-4 && z > 0, "a rising series: z %g p %g", z, p);
	p = el_mann_kendall(flat, 20, &z);
	cr_expect(p > 0.05, "noise: z %g p %g", z, p);
}

/* --until-ci's rule on synthetic runs: intervals of 2,000 RTTs each drawn
 * from a quiet distribution (1 ms plus an exponential of mean 50 us) meet
 * +-5% after the 5 intervals it waits for; a noisy one (one RTT in 60 up
 * to 50 ms longer) does not in 30. And the 95% intervals cover: over 20
 * seeds of each, the distribution's true p99 (from a million draws) lies
 * inside in at least 17 (19 expected). */
static double sample_rtt(uint64_t *st, bool noisy)
{
	double us = 1000 + el_rng_exp(st, 50);
	if (noisy && el_rng_next(st) % 60 == 0)
		us += (double)(el_rng_next(st) % 50000);
	return us;
}

Test(intervals, until_ci_meets_a_quiet_run_sooner_and_the_intervals_cover_the_true_p99)
{
	static struct el_load_result r;
	static struct el_hist truth;
	for (int noisy = 0; noisy < 2; noisy++) {
		el_hist_init(&truth);
		uint64_t st = 99;
		for (int i = 0; i < 1000000; i++)
			el_hist_add(&truth, (int64_t)sample_rtt(&st, noisy));
		double p99 = el_hist_percentile(&truth, 99);
		int covered = 0, met_early = 0, met_ever = 0;
		for (uint64_t seed = 1; seed <= 20; seed++) {
			struct el_intervals iv;
			cr_assert_eq(el_intervals_init(&iv, 1, NULL, 5), 0);
			memset(&r, 0, sizeof(r));
			el_hist_init(&r.hist);
			st = seed * 7919;
			int met = -1;
			for (int k = 1; k <= 30 && met < 0; k++) {
				for (int i = 0; i < 2000; i++)
					el_hist_add(&r.hist, (int64_t)sample_rtt(&st, noisy));
				r.messages = r.hist.total;
				r.window_s = k;
				if (el_intervals_update(&iv, &r, false))
					met = k;
			}
			met_early += met == 5;
			met_ever += met > 0;
			struct el_ci ci;
			cr_assert(el_ci_around(iv.p99, iv.n, iv.p99_all, &ci));
			covered += ci.lo <= p99 && p99 <= ci.hi;
			el_intervals_finish(&iv);
		}
		cr_expect_geq(covered, 17, "%s: the true p99 %.0f us inside %d of 20 intervals", noisy ? "noisy" : "quiet",
			      p99, covered);
		if (!noisy)
			cr_expect_eq(met_early, 20, "quiet: %d of 20 runs met +-5%% at 5 intervals", met_early);
		else
			cr_expect_eq(met_ever, 0, "noisy: %d of 20 runs met +-5%% within 30 intervals", met_ever);
	}
}

/* A run whose RTT climbs interval after interval never reached a steady
 * state, and the report says so; a flat one is not flagged. */
Test(intervals, a_climbing_run_is_flagged_not_steady)
{
	static struct el_load_result r;
	for (int climb = 0; climb < 2; climb++) {
		struct el_intervals iv;
		cr_assert_eq(el_intervals_init(&iv, 1, NULL, 0), 0);
		memset(&r, 0, sizeof(r));
		el_hist_init(&r.hist);
		uint64_t st = 5;
		for (int k = 1; k <= 10; k++) {
			for (int i = 0; i < 1000; i++)
				el_hist_add(&r.hist, (int64_t)(1000 * (climb ? 1 + 0.05 * k : 1) + el_rng_exp(&st, 50)));
			r.messages = r.hist.total;
			r.window_s = k;
			el_intervals_update(&iv, &r, false);
		}
		char *text = NULL, *json = NULL;
		size_t tl = 0, jl = 0;
		FILE *f = open_memstream(&text, &tl), *g = open_memstream(&json, &jl);
		el_intervals_print(&iv, f);
		el_intervals_write_json(&iv, g);
		fclose(f);
		fclose(g);
		if (climb) {
			cr_expect_not_null(strstr(text, "steady    NO: RTT p50 trends up"), "%s", text);
			cr_expect_not_null(strstr(json, "\"steady\": false"), "%s", json);
		} else {
			cr_expect_null(strstr(text, "steady    NO"), "%s", text);
			cr_expect_not_null(strstr(json, "\"steady\": true"), "%s", json);
		}
		free(text);
		free(json);
		el_intervals_finish(&iv);
	}
}
