#include "intervals.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

int el_intervals_init(struct el_intervals *iv, double every_s, FILE *csv, double until_ci_pct)
{
	memset(iv, 0, sizeof(*iv));
	iv->every_s = every_s;
	iv->csv = csv;
	iv->until_ci_pct = until_ci_pct;
	iv->seen = calloc(1, sizeof(*iv->seen));
	if (!iv->seen)
		return -ENOMEM;
	el_hist_init(iv->seen);
	if (csv && fprintf(csv, "t_s,msgs_per_s,p50_us,p99_us,errors\n") < 0)
		iv->csv_err = -EIO;
	return 0;
}

void el_intervals_finish(struct el_intervals *iv)
{
	free(iv->msgs);
	free(iv->p50);
	free(iv->p99);
	free(iv->errors);
	free(iv->seen);
	memset(iv, 0, sizeof(*iv));
}

static int grow(struct el_intervals *iv)
{
	if (iv->n < iv->cap)
		return 0;
	size_t cap = iv->cap ? 2 * iv->cap : 64;
	double *m = realloc(iv->msgs, cap * sizeof(*m)), *a = m ? realloc(iv->p50, cap * sizeof(*a)) : NULL;
	if (m)
		iv->msgs = m;
	if (a)
		iv->p50 = a;
	double *b = a ? realloc(iv->p99, cap * sizeof(*b)) : NULL;
	if (b)
		iv->p99 = b;
	uint64_t *e = b ? realloc(iv->errors, cap * sizeof(*e)) : NULL;
	if (e)
		iv->errors = e;
	if (!e)
		return -ENOMEM;
	iv->cap = cap;
	return 0;
}

/* One interval of len seconds ending at window time end_s. */
static void close_interval(struct el_intervals *iv, const struct el_load_result *r, double end_s, double len)
{
	if (grow(iv) < 0)
		return;
	static struct el_hist delta;
	el_hist_delta(&delta, &r->hist, iv->seen);
	size_t k = iv->n++;
	iv->msgs[k] = (double)(r->messages - iv->last_messages) / len;
	iv->errors[k] = r->errors_total - iv->last_errors;
	iv->p50[k] = delta.total ? el_hist_percentile(&delta, 50) : 0;
	iv->p99[k] = delta.total ? el_hist_percentile(&delta, 99) : 0;
	iv->last_messages = r->messages;
	iv->last_errors = r->errors_total;
	iv->closed_s = end_s;
	if (iv->csv && !iv->csv_err &&
	    (fprintf(iv->csv, "%.3f,%.1f,%.0f,%.0f,%llu\n", end_s, iv->msgs[k], iv->p50[k], iv->p99[k],
		     (unsigned long long)iv->errors[k]) < 0 ||
	     fflush(iv->csv) != 0))
		iv->csv_err = -EIO;
}

bool el_intervals_update(struct el_intervals *iv, const struct el_load_result *r, bool final)
{
	if (r->hist.total) {
		/* A live histogram's stats are not kept: its total is. */
		iv->p50_all = el_hist_percentile_live(&r->hist, 50);
		iv->p99_all = el_hist_percentile_live(&r->hist, 99);
	}
	iv->msgs_all = r->window_s > 0 ? (double)r->messages / r->window_s : 0;
	while (r->window_s - iv->closed_s >= iv->every_s)
		close_interval(iv, r, iv->closed_s + iv->every_s, iv->every_s);
	if (final && r->window_s - iv->closed_s >= iv->every_s / 2)
		close_interval(iv, r, r->window_s, r->window_s - iv->closed_s);
	/* --until-ci: five intervals at least, then p99's interval within
	 * the bound. */
	struct el_ci ci;
	if (iv->until_ci_pct > 0 && !iv->reached && iv->n >= 5 && el_ci_around(iv->p99, iv->n, iv->p99_all, &ci) &&
	    ci.half_pct <= iv->until_ci_pct) {
		iv->reached = true;
		iv->reached_s = iv->closed_s;
	}
	return iv->reached;
}

double el_t975(size_t df)
{
	static const double t[] = {0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
				   2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
				   2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
	if (df < sizeof(t) / sizeof(t[0]))
		return t[df];
	return 1.96 + 2.4 / (double)df; /* within 0.002 of the exact value past 30 */
}

bool el_ci_around(const double *x, size_t n, double center, struct el_ci *ci)
{
	if (!el_ci_of(x, n, ci))
		return false;
	double half = (ci->hi - ci->lo) / 2;
	ci->mean = center;
	/* RTTs and rates are not negative: nor is a bound of theirs. */
	ci->lo = fmax(center - half, 0);
	ci->hi = center + half;
	ci->half_pct = center != 0 ? 100 * half / fabs(center) : INFINITY;
	return true;
}

bool el_ci_of(const double *x, size_t n, struct el_ci *ci)
{
	memset(ci, 0, sizeof(*ci));
	if (n < 2)
		return false;
	struct el_stats s;
	el_stats_init(&s);
	for (size_t i = 0; i < n; i++)
		el_stats_add(&s, x[i]);
	return el_ci_of_stats(&s, ci);
}

bool el_ci_of_stats(const struct el_stats *s, struct el_ci *ci)
{
	memset(ci, 0, sizeof(*ci));
	if (s->n < 2)
		return false;
	double n = (double)s->n;
	/* el_stats' variance divides by n: the sample's by n - 1. */
	double sd = sqrt(el_stats_variance(s) * n / (n - 1));
	double half = el_t975((size_t)s->n - 1) * sd / sqrt(n);
	ci->mean = s->mean;
	ci->lo = s->mean - half;
	ci->hi = s->mean + half;
	ci->half_pct = s->mean != 0 ? 100 * half / fabs(s->mean) : INFINITY;
	return true;
}

double el_mann_kendall(const double *x, size_t n, double *z)
{
	*z = 0;
	if (n < 3)
		return 1;
	double s = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			s += (x[j] > x[i]) - (x[j] < x[i]);
	double var = (double)n * (double)(n - 1) * (2.0 * (double)n + 5) / 18.0;
	*z = s > 0 ? (s - 1) / sqrt(var) : s < 0 ? (s + 1) / sqrt(var) : 0;
	return erfc(fabs(*z) / sqrt(2.0));
}

/* Steady: neither msgs/s nor p50 trends over the intervals (Mann-Kendall,
 * p >= 0.01), with 5 intervals or more to tell. */
static bool steady(const struct el_intervals *iv, double *p_msgs, double *p_p50, double *z_msgs, double *z_p50)
{
	*p_msgs = el_mann_kendall(iv->msgs, iv->n, z_msgs);
	*p_p50 = el_mann_kendall(iv->p50, iv->n, z_p50);
	return iv->n < 5 || (*p_msgs >= 0.01 && *p_p50 >= 0.01);
}

static void ci_json(FILE *f, const char *name, const double *x, size_t n, double center)
{
	struct el_ci ci;
	if (el_ci_around(x, n, center, &ci))
		fprintf(f, "\"%s\": {\"mean\": %.1f, \"ci95\": [%.1f, %.1f], \"half_pct\": %.2f}, ", name, ci.mean, ci.lo,
			ci.hi, ci.half_pct);
	else
		fprintf(f, "\"%s\": null, ", name);
}

void el_intervals_write_json(const struct el_intervals *iv, FILE *f)
{
	fprintf(f, "  \"intervals\": {\"every_s\": %g, \"count\": %zu, ", iv->every_s, iv->n);
	ci_json(f, "msgs_per_s", iv->msgs, iv->n, iv->msgs_all);
	ci_json(f, "p50_us", iv->p50, iv->n, iv->p50_all);
	ci_json(f, "p99_us", iv->p99, iv->n, iv->p99_all);
	double pm, pp, zm, zp;
	bool st = steady(iv, &pm, &pp, &zm, &zp);
	fprintf(f, "\"trend\": {\"test\": \"mann-kendall\", \"msgs_per_s_z\": %.3f, \"msgs_per_s_p\": %.4g, "
		   "\"p50_z\": %.3f, \"p50_p\": %.4g, \"steady\": %s}",
		zm, pm, zp, pp, st ? "true" : "false");
	if (iv->until_ci_pct > 0)
		fprintf(f, ", \"until_ci\": {\"pct\": %g, \"reached\": %s, \"after_s\": %.3f}", iv->until_ci_pct,
			iv->reached ? "true" : "false", iv->reached ? iv->reached_s : iv->closed_s);
	fprintf(f, "},\n");
}

void el_intervals_print(const struct el_intervals *iv, FILE *f)
{
	struct el_ci m, a, b;
	if (!el_ci_around(iv->p99, iv->n, iv->p99_all, &b)) {
		fprintf(f, "intervals %zu of %g s: too few for confidence intervals\n", iv->n, iv->every_s);
		return;
	}
	el_ci_around(iv->msgs, iv->n, iv->msgs_all, &m);
	el_ci_around(iv->p50, iv->n, iv->p50_all, &a);
	fprintf(f, "intervals %zu of %g s, 95%% confidence: msgs/s %.0f (%.0f-%.0f), p50 %.0f us (%.0f-%.0f), "
		   "p99 %.0f us (%.0f-%.0f, +-%.1f%%)\n",
		iv->n, iv->every_s, m.mean, m.lo, m.hi, a.mean, a.lo, a.hi, b.mean, b.lo, b.hi, b.half_pct);
	double pm, pp, zm, zp;
	if (!steady(iv, &pm, &pp, &zm, &zp))
		fprintf(f, "steady    NO: %s trends %s over the intervals (Mann-Kendall p %.2g)\n",
			pp < pm ? "RTT p50" : "msgs/s", (pp < pm ? zp : zm) > 0 ? "up" : "down", pp < pm ? pp : pm);
	if (iv->until_ci_pct > 0) {
		if (iv->reached)
			fprintf(f, "until-ci  p99 within +-%g%% after %.1f s\n", iv->until_ci_pct, iv->reached_s);
		else
			fprintf(f, "until-ci  p99 only within +-%.1f%% by the end (%.1f s), not %g%%\n", b.half_pct,
				iv->closed_s, iv->until_ci_pct);
	}
}
