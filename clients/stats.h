/* Latency figures for echolab's load generator and benchmark: exact
 * running moments (el_stats_) and a log-linear histogram for percentiles
 * (el_hist_), HdrHistogram's design: every value below 256 in its own
 * bucket, above that 128 buckets per power of two, so a percentile is
 * within 1/256 of the value recorded (0.4%) in constant memory. */
#ifndef EL_STATS_H
#define EL_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Count, mean and sum of squared deviations (Welford), min and max. */
struct el_stats {
	uint64_t n;
	double mean, m2;
	double min, max;
};

void el_stats_init(struct el_stats *s);
void el_stats_add(struct el_stats *s, double x);
/* Adds every value of b into a (Chan's parallel formula). */
void el_stats_merge(struct el_stats *a, const struct el_stats *b);
/* Population variance and standard deviation (divided by n, as numpy's
 * var and std by default); 0 for fewer than two values. */
double el_stats_variance(const struct el_stats *s);
double el_stats_stddev(const struct el_stats *s);

#define EL_HIST_SUB_BITS 7
#define EL_HIST_SUB (1 << EL_HIST_SUB_BITS)       /* buckets per power of two */
#define EL_HIST_MAX_BITS 40                        /* values up to 2^40 - 1 */
#define EL_HIST_BUCKETS (2 * EL_HIST_SUB + (EL_HIST_MAX_BITS - EL_HIST_SUB_BITS - 1) * EL_HIST_SUB)

struct el_hist {
	uint64_t total;
	uint64_t counts[EL_HIST_BUCKETS];
	struct el_stats stats; /* exact min, max, mean, variance */
};

void el_hist_init(struct el_hist *h);
/* Records one value (negative values count as 0, values of 2^40 and more
 * as the largest). */
void el_hist_add(struct el_hist *h, int64_t v);
void el_hist_merge(struct el_hist *a, const struct el_hist *b);

/* Returns the bucket of v. */
size_t el_hist_index(int64_t v);
/* Returns the lowest and highest value of bucket i. */
int64_t el_hist_lowest(size_t i);
int64_t el_hist_highest(size_t i);

/* Returns the value below or at which pct percent (0..100) of the recorded
 * values lie: the middle of its bucket, clamped to the exact min and max;
 * 0 when empty. */
double el_hist_percentile(const struct el_hist *h, double pct);

/* The same figure from a snapshot taken while another thread records
 * (relaxed atomic reads; for progress lines only). */
double el_hist_percentile_live(const struct el_hist *h, double pct);
/* Records as el_hist_add, with relaxed atomic stores of the counts, so that
 * el_hist_percentile_live may read concurrently. */
void el_hist_add_shared(struct el_hist *h, int64_t v);

/* Writes HdrHistogram's percentile distribution (the format its plotter
 * and HistogramLogProcessor read), values divided by scale (1000 writes
 * microseconds as milliseconds). Returns 0 or -errno. */
int el_hist_write_hgrm(const struct el_hist *h, FILE *f, double scale);

/* What a growing histogram, now (read while another thread records, or
 * after), gained since seen: into delta (its counts and total), then seen
 * moves up to now. Counts never go down, so a stale bucket counts 0. */
void el_hist_delta(struct el_hist *delta, const struct el_hist *now, struct el_hist *seen);

/* splitmix64: the next number of the stream in *state (any seed). */
uint64_t el_rng_next(uint64_t *state);
/* An exponential draw of the given mean from the stream. */
double el_rng_exp(uint64_t *state, double mean);

/* Anderson-Darling's A^2 of the n values of x (sorted in place) against
 * the exponential distribution of the given mean, fully specified (no
 * parameter estimated from x); *p_value its upper tail from the
 * asymptotic distribution (Marsaglia and Marsaglia, 2004), good from
 * n ~ 50. Values under resolution count as resolution: a clock that
 * cannot tell 0 from 70 us must not make one 0 weigh as much as a
 * thousand misplaced values (A^2 weighs ln F(x), unbounded at 0).
 * Returns A^2, or NAN when n is 0. */
double el_fit_ad_exponential(double *x, size_t n, double mean, double resolution, double *p_value);
/* The upper tail P(A^2 >= a2) of A^2's limiting distribution. */
double el_fit_ad_p_value(double a2);

#endif
