#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void el_stats_init(struct el_stats *s)
{
	*s = (struct el_stats){.min = INFINITY, .max = -INFINITY};
}

void el_stats_add(struct el_stats *s, double x)
{
	s->n++;
	double d = x - s->mean;
	s->mean += d / (double)s->n;
	s->m2 += d * (x - s->mean);
	if (x < s->min)
		s->min = x;
	if (x > s->max)
		s->max = x;
}

void el_stats_merge(struct el_stats *a, const struct el_stats *b)
{
	if (b->n == 0)
		return;
	if (a->n == 0) {
		*a = *b;
		return;
	}
	double n = (double)(a->n + b->n);
	double d = b->mean - a->mean;
	a->m2 += b->m2 + d * d * (double)a->n * (double)b->n / n;
	a->mean += d * (double)b->n / n;
	a->n += b->n;
	if (b->min < a->min)
		a->min = b->min;
	if (b->max > a->max)
		a->max = b->max;
}

double el_stats_variance(const struct el_stats *s)
{
	return s->n < 2 ? 0.0 : s->m2 / (double)s->n;
}

double el_stats_stddev(const struct el_stats *s)
{
	return sqrt(el_stats_variance(s));
}

void el_hist_init(struct el_hist *h)
{
	memset(h, 0, sizeof(*h));
	el_stats_init(&h->stats);
}

/* Values below 2 * SUB have a bucket each; above, a value with its top bit
 * at position m (m >= SUB_BITS + 1) falls in the half-range of SUB buckets
 * of that power of two, selected by its SUB_BITS bits below the top one. */
size_t el_hist_index(int64_t v)
{
	if (v < 0)
		v = 0;
	if (v >= (int64_t)1 << EL_HIST_MAX_BITS)
		v = ((int64_t)1 << EL_HIST_MAX_BITS) - 1;
	if (v < 2 * EL_HIST_SUB)
		return (size_t)v;
	int m = 63 - __builtin_clzll((unsigned long long)v);
	int shift = m - EL_HIST_SUB_BITS;
	return (size_t)(2 * EL_HIST_SUB + (m - EL_HIST_SUB_BITS - 1) * EL_HIST_SUB +
			((v >> shift) - EL_HIST_SUB));
}

int64_t el_hist_lowest(size_t i)
{
	if (i < 2 * EL_HIST_SUB)
		return (int64_t)i;
	size_t k = i - 2 * EL_HIST_SUB;
	int m = (int)(k / EL_HIST_SUB) + EL_HIST_SUB_BITS + 1;
	int64_t sub = (int64_t)(k % EL_HIST_SUB) + EL_HIST_SUB;
	return sub << (m - EL_HIST_SUB_BITS);
}

int64_t el_hist_highest(size_t i)
{
	if (i < 2 * EL_HIST_SUB)
		return (int64_t)i;
	size_t k = i - 2 * EL_HIST_SUB;
	int m = (int)(k / EL_HIST_SUB) + EL_HIST_SUB_BITS + 1;
	return el_hist_lowest(i) + ((int64_t)1 << (m - EL_HIST_SUB_BITS)) - 1;
}

void el_hist_add(struct el_hist *h, int64_t v)
{
	h->counts[el_hist_index(v)]++;
	h->total++;
	el_stats_add(&h->stats, (double)(v < 0 ? 0 : v));
}

void el_hist_add_shared(struct el_hist *h, int64_t v)
{
	uint64_t *c = &h->counts[el_hist_index(v)];
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&h->total, h->total + 1, __ATOMIC_RELAXED);
	el_stats_add(&h->stats, (double)(v < 0 ? 0 : v));
}

void el_hist_merge(struct el_hist *a, const struct el_hist *b)
{
	for (size_t i = 0; i < EL_HIST_BUCKETS; i++)
		a->counts[i] += b->counts[i];
	a->total += b->total;
	el_stats_merge(&a->stats, &b->stats);
}

static double bucket_value(const struct el_hist *h, size_t i)
{
	double mid = ((double)el_hist_lowest(i) + (double)el_hist_highest(i)) / 2.0;
	if (i < 2 * EL_HIST_SUB)
		mid = (double)i;
	if (h->stats.n > 0) {
		if (mid < h->stats.min)
			mid = h->stats.min;
		if (mid > h->stats.max)
			mid = h->stats.max;
	}
	return mid;
}

static size_t percentile_index(const uint64_t *counts, uint64_t total, double pct, bool live)
{
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	/* The smallest value with at least ceil(pct% of total) values at or
	 * below it (at least one). */
	uint64_t want = (uint64_t)ceil(pct / 100.0 * (double)total);
	if (want == 0)
		want = 1;
	uint64_t seen = 0;
	size_t last = 0;
	for (size_t i = 0; i < EL_HIST_BUCKETS; i++) {
		uint64_t c = live ? __atomic_load_n(&counts[i], __ATOMIC_RELAXED) : counts[i];
		if (c == 0)
			continue;
		seen += c;
		last = i;
		if (seen >= want)
			return i;
	}
	return last;
}

double el_hist_percentile(const struct el_hist *h, double pct)
{
	if (h->total == 0)
		return 0.0;
	return bucket_value(h, percentile_index(h->counts, h->total, pct, false));
}

double el_hist_percentile_live(const struct el_hist *h, double pct)
{
	uint64_t total = __atomic_load_n(&h->total, __ATOMIC_RELAXED);
	if (total == 0)
		return 0.0;
	size_t i = percentile_index(h->counts, total, pct, true);
	return (double)(i < 2 * EL_HIST_SUB ? (int64_t)i
					    : (el_hist_lowest(i) + el_hist_highest(i)) / 2);
}

/* HdrHistogram's percentile iteration: 5 ticks per halving of the
 * distance to 100%, each row the highest value equivalent to the one
 * where the cumulative count reaches the level. */
int el_hist_write_hgrm(const struct el_hist *h, FILE *f, double scale)
{
	fprintf(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
		"1/(1-Percentile)");
	uint64_t seen = 0;
	double level = 0.0;
	const int ticks_per_half = 5;
	for (size_t i = 0; h->total > 0 && i < EL_HIST_BUCKETS; i++) {
		if (h->counts[i] == 0)
			continue;
		seen += h->counts[i];
		double value = (double)el_hist_highest(i);
		if (value > h->stats.max)
			value = h->stats.max;
		/* Every level this bucket reaches, then 100% at the last one. */
		while (level < 100.0 && (double)seen >= level / 100.0 * (double)h->total) {
			/* At the last value, levels finer than one value in
			 * the total say nothing more. */
			if (seen == h->total && 1.0 / (1.0 - level / 100.0) > (double)h->total)
				break;
			fprintf(f, "%12.3f %2.12f %10llu %14.2f\n", value / scale, level / 100.0,
				(unsigned long long)seen, 1.0 / (1.0 - level / 100.0));
			double halvings = floor(log2(100.0 / (100.0 - level))) + 1;
			level += 100.0 / (ticks_per_half * pow(2.0, halvings));
		}
		if (seen == h->total) {
			fprintf(f, "%12.3f %2.12f %10llu\n", value / scale, 1.0, (unsigned long long)seen);
			break;
		}
	}
	fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", h->stats.n ? h->stats.mean / scale : 0.0,
		el_stats_stddev(&h->stats) / scale);
	fprintf(f, "#[Max     = %12.3f, Total count    = %12llu]\n", h->stats.n ? h->stats.max / scale : 0.0,
		(unsigned long long)h->total);
	fprintf(f, "#[Buckets = %12d, SubBuckets     = %12d]\n", EL_HIST_MAX_BITS - EL_HIST_SUB_BITS,
		2 * EL_HIST_SUB);
	return ferror(f) ? -EIO : 0;
}

void el_hist_delta(struct el_hist *delta, const struct el_hist *now, struct el_hist *seen)
{
	el_hist_init(delta);
	for (size_t b = 0; b < EL_HIST_BUCKETS; b++) {
		uint64_t c = now->counts[b], before = seen->counts[b];
		delta->counts[b] = c > before ? c - before : 0;
		delta->total += delta->counts[b];
		seen->counts[b] = c > before ? c : before;
	}
}

uint64_t el_rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double el_rng_exp(uint64_t *state, double mean)
{
	/* 53 random bits, in (0, 1]: never log(0). */
	double u = ((double)(el_rng_next(state) >> 11) + 1.0) / 9007199254740992.0;
	return -mean * log(u);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The limiting distribution of A^2, P(A^2 < z) (Marsaglia and Marsaglia,
 * "Evaluating the Anderson-Darling Distribution", JSS 9(2), 2004). */
static double ad_inf(double z)
{
	if (z <= 0)
		return 0;
	if (z < 2)
		return exp(-1.2337141 / z) / sqrt(z) *
		       (2.00012 + (0.247105 - (0.0649821 - (0.0347962 - (0.011672 - 0.00168691 * z) * z) * z) * z) * z);
	return exp(-exp(1.0776 - (2.30695 - (0.43424 - (0.082433 - (0.008056 - 0.0003146 * z) * z) * z) * z) * z));
}

double el_fit_ad_exponential(double *x, size_t n, double mean, double resolution, double *p_value)
{
	if (n == 0 || mean <= 0) {
		*p_value = NAN;
		return NAN;
	}
	for (size_t i = 0; i < n; i++)
		if (x[i] < resolution)
			x[i] = resolution;
	qsort(x, n, sizeof(*x), by_value);
	/* F(x) = 1 - exp(-x / mean); ln F and ln(1 - F) kept away from 0 and
	 * 1 so that a value at the very edge costs a large, finite term. */
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		double lo = x[i] / mean, hi = x[n - 1 - i] / mean;
		double lnf = log(fmax(-expm1(-lo), 1e-300));
		double ln1mf = -hi;
		sum += (2.0 * (double)i + 1.0) * (lnf + ln1mf);
	}
	double a2 = -(double)n - sum / (double)n;
	*p_value = el_fit_ad_p_value(a2);
	return a2;
}

double el_fit_ad_p_value(double a2)
{
	return 1.0 - ad_inf(a2);
}
