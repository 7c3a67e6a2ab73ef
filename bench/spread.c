/* What a cell's repeats show: whether they agree (the stable rule), the
 * groups they fall into when they do not, and the change between two
 * cells that their spread allows a verdict on (Welch). The report's
 * verdicts and --compare use the same rule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "intervals.h"

struct bench_change bench_welch(const struct el_stats *a, const struct el_stats *b)
{
	struct bench_change c = {0};
	if (a->n < 2 || b->n < 2 || a->mean == 0)
		return c;
	double na = (double)a->n, nb = (double)b->n;
	double va = el_stats_variance(a) * na / (na - 1), vb = el_stats_variance(b) * nb / (nb - 1);
	double se2 = va / na + vb / nb, diff = b->mean - a->mean;
	double df = se2 > 0 ? se2 * se2 / ((va / na) * (va / na) / (na - 1) + (vb / nb) * (vb / nb) / (nb - 1)) : 1e9;
	double half = el_t975(df < 1 ? 1 : (size_t)floor(df)) * sqrt(se2);
	c.pct = 100 * diff / a->mean;
	c.lo = 100 * (diff - half) / a->mean;
	c.hi = 100 * (diff + half) / a->mean;
	c.known = true;
	return c;
}

int bench_change_beyond(const struct bench_change *c, double min_pct)
{
	if (!c->known)
		return 0;
	return c->lo > min_pct ? 1 : c->hi < -min_pct ? -1 : 0;
}

static int by_value(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

static double median_of(const double *v, int n)
{
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The largest distance of a sorted run's values from their median, in
 * percent of it. */
static double worst_of(const double *v, int n, double median)
{
	if (median <= 0)
		return n > 1 && v[n - 1] > v[0] ? 100 : 0;
	return 100 * fmax(median - v[0], v[n - 1] - median) / median;
}

void bench_spread_of(const double *values, int n, struct bench_spread *s)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	if (n <= 0)
		return;
	double v[BENCH_MAX_REPEATS];
	if (n > BENCH_MAX_REPEATS)
		n = s->n = BENCH_MAX_REPEATS;
	memcpy(v, values, (size_t)n * sizeof(*v));
	qsort(v, (size_t)n, sizeof(*v), by_value);
	s->min = v[0];
	s->max = v[n - 1];
	s->median = median_of(v, n);
	s->worst_pct = worst_of(v, n, s->median);
	s->unstable = n > 1 && s->worst_pct > BENCH_STABLE_PCT;
	s->groups = 1;
	if (!s->unstable)
		return;
	/* Two modes: split at the widest gap, each side agreeing within
	 * itself. A spread that is not two tight groups stays one group,
	 * unstable. */
	int cut = 0;
	double widest = 0;
	for (int i = 1; i < n; i++) {
		double gap = v[i] > 0 ? (v[i] - v[i - 1]) / v[i] : 0;
		if (gap > widest) {
			widest = gap;
			cut = i;
		}
	}
	if (cut == 0 || worst_of(v, cut, median_of(v, cut)) > BENCH_STABLE_PCT ||
	    worst_of(v + cut, n - cut, median_of(v + cut, n - cut)) > BENCH_STABLE_PCT)
		return;
	s->groups = 2;
	s->low_n = cut;
	s->high_n = n - cut;
	s->low_median = median_of(v, cut);
	s->high_median = median_of(v + cut, n - cut);
}
