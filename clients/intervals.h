/* The run in intervals (echolab-load --interval): per interval msgs/s,
 * RTT p50 and p99 and errors, from the differences of the window's
 * histogram; from them, 95% confidence intervals of p50, p99 and msgs/s
 * (sectioning: the whole window's figure, its error from the spread of
 * the intervals' own, so samples that are not independent within an
 * interval still give an honest width), a trend
 * test (is the run in a steady state?), and --until-ci's stopping rule. */
#ifndef EL_INTERVALS_H
#define EL_INTERVALS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "stats.h"

struct el_load_result;

struct el_ci {
	double mean, lo, hi; /* the estimate and its 95% interval */
	double half_pct;     /* half the interval, in percent of the mean */
};

struct el_intervals {
	double every_s;       /* an interval's length */
	FILE *csv;            /* rows t_s,msgs_per_s,p50_us,p99_us,errors; or NULL */
	double until_ci_pct;  /* > 0: stop once p99's half-interval is within it */
	/* So far. */
	size_t n, cap;
	double *msgs, *p50, *p99;
	uint64_t *errors;
	double closed_s;      /* the window's time up to the last interval */
	uint64_t last_messages, last_errors;
	struct el_hist *seen; /* the window's histogram at the last interval */
	double p50_all, p99_all, msgs_all; /* the window's, at the last update */
	bool reached;         /* until-ci: the interval was tight enough */
	double reached_s;     /* ... at this window time */
	int csv_err;
};

/* Starts: intervals of every_s seconds, rows to csv (NULL: none). Returns
 * 0 or -ENOMEM. */
int el_intervals_init(struct el_intervals *iv, double every_s, FILE *csv, double until_ci_pct);
void el_intervals_finish(struct el_intervals *iv);

/* Closes every whole interval the window has passed, from a live (or the
 * final) result. With final, a last partial interval of at least half a
 * length is closed too. Returns true when --until-ci's rule is met (the
 * run may end now). */
bool el_intervals_update(struct el_intervals *iv, const struct el_load_result *r, bool final);

/* 95% interval of the mean of n values (Student's t). Returns false with
 * fewer than 2. */
bool el_ci_of(const double *x, size_t n, struct el_ci *ci);
/* Sectioning: the same interval's width (the n values' spread) around
 * another estimate, center (the whole run's percentile, which the mean of
 * the intervals' percentiles is not). */
bool el_ci_around(const double *x, size_t n, double center, struct el_ci *ci);

/* Student's t, 0.975 quantile, df degrees of freedom (df >= 1). */
double el_t975(size_t df);
/* The 95% interval of the mean of what s holds (its n, mean and
 * variance), as el_ci_of. Returns false with fewer than 2. */
bool el_ci_of_stats(const struct el_stats *s, struct el_ci *ci);

/* Mann-Kendall's trend test of x in order: its z and two-sided p-value
 * (normal approximation, ties ignored). */
double el_mann_kendall(const double *x, size_t n, double *z);

/* The "intervals" object of the JSON summary (two-space indented, a
 * trailing comma). */
void el_intervals_write_json(const struct el_intervals *iv, FILE *f);

/* The report's lines. */
void el_intervals_print(const struct el_intervals *iv, FILE *f);

#endif
