/* bench-wakeup: what a timer wake-up costs on this machine, and what an
 * open loop that keeps echolab-load's lateness rule must therefore pay
 * (wakeup.h). Sleeps SAMPLES times for SLEEP us each, to an absolute time
 * on CLOCK_MONOTONIC with 1 us of timer slack (as echolab-load's paced
 * loop sleeps), and records how late each sleep ends and the CPU time the
 * wake-ups took (getrusage). Then, for each connection gap, the bound is a
 * tenth of it and the plan is the fewest wake-ups a second that keep the
 * sends beyond the bound at most the late share (1%: the p99 of
 * echolab-load's validity), planned over the overshoots without their
 * top 1% (stalls that would hit a loop that never sleeps as well). Run it
 * on a quiet machine: its figures are a floor, as load on the machine
 * makes wake-ups later, not earlier.
 *
 *   bench-wakeup [--samples N] [--sleep US] [--gaps US,...] [--late-share F]
 *
 * Prints key=value lines: one of the timer, one a gap. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#include "wakeup.h"

#define MAX_GAPS 16

static const char usage[] =
	"usage: bench-wakeup [--samples N] [--sleep US] [--gaps US,...] [--late-share F]\n"
	"\n"
	"Measures a timer wake-up on this machine: N sleeps (default 20000) of US\n"
	"microseconds (default 100) with 1 us of timer slack, how late each ends,\n"
	"and the CPU time a wake-up costs. For each connection gap in us (default\n"
	"1000,250: 1,000 and 4,000 msgs/s a connection), the fewest wake-ups a\n"
	"second with which a sleeping open loop keeps at most the late share of\n"
	"its sends (default 0.01) later than a tenth of the gap, and their CPU\n"
	"(sleeps=no: none does, the loop spins: a CPU-second a second).\n";

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double cpu_s(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* A whole number in [1, max], or -1. */
static long whole(const char *s, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	return errno || end == s || *end || v < 1 || v > max ? -1 : v;
}

int main(int argc, char **argv)
{
	long samples = 20000, sleep_us = 100;
	long gaps[MAX_GAPS] = {1000, 250};
	int ngaps = 2;
	double share = 0.01;
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
			fputs(usage, stdout);
			return 0;
		}
		if (!val) {
			fprintf(stderr, "bench-wakeup: %s: unknown, or without its value (see --help)\n", opt);
			return 2;
		}
		i++;
		if (!strcmp(opt, "--samples") && (samples = whole(val, 10000000)) > 0)
			continue;
		if (!strcmp(opt, "--sleep") && (sleep_us = whole(val, 1000000)) > 0)
			continue;
		if (!strcmp(opt, "--late-share")) {
			char *end;
			share = strtod(val, &end);
			if (end != val && !*end && share >= 0 && share < 1)
				continue;
		}
		if (!strcmp(opt, "--gaps")) {
			char *list = strdup(val), *save = NULL;
			ngaps = 0;
			for (char *t = strtok_r(list, ",", &save); t && ngaps >= 0; t = strtok_r(NULL, ",", &save))
				ngaps = ngaps < MAX_GAPS && (gaps[ngaps] = whole(t, 10000000)) >= 10 ? ngaps + 1 : -1;
			free(list);
			if (ngaps > 0)
				continue;
		}
		fprintf(stderr, "bench-wakeup: %s %s: not an option, or not a value it takes (see --help)\n", opt, val);
		return 2;
	}
	int64_t *over = malloc((size_t)samples * sizeof(*over));
	if (!over) {
		fprintf(stderr, "bench-wakeup: out of memory for %ld samples\n", samples);
		return 1;
	}
	prctl(PR_SET_TIMERSLACK, 1000UL);
	double cpu0 = cpu_s();
	for (long k = 0; k < samples; k++) {
		int64_t at = now_us() + sleep_us;
		struct timespec ts = {.tv_sec = at / 1000000, .tv_nsec = (at % 1000000) * 1000};
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		int64_t late = now_us() - at;
		over[k] = late > 0 ? late : 0;
	}
	double wake_cpu_us = (cpu_s() - cpu0) * 1e6 / (double)samples;
	int64_t *sorted = malloc((size_t)samples * sizeof(*sorted));
	if (!sorted) {
		fprintf(stderr, "bench-wakeup: out of memory for %ld samples\n", samples);
		free(over);
		return 1;
	}
	memcpy(sorted, over, (size_t)samples * sizeof(*sorted));
	qsort(sorted, (size_t)samples, sizeof(*sorted), cmp_i64);
	printf("wake_cpu_us=%.1f samples=%ld sleep_us=%ld overshoot_p50_us=%lld overshoot_p90_us=%lld "
	       "overshoot_p99_us=%lld overshoot_max_us=%lld\n",
	       wake_cpu_us, samples, sleep_us, (long long)sorted[samples / 2], (long long)sorted[samples * 9 / 10],
	       (long long)sorted[samples * 99 / 100], (long long)sorted[samples - 1]);
	for (int g = 0; g < ngaps; g++) {
		int64_t bound = gaps[g] / 10;
		/* The top 1% of the overshoots left out: the machine's stalls
		 * (a host's preemption) would delay a loop that never sleeps
		 * too, and a floor gives the sleeping loop every doubt. */
		struct el_wake_plan p = el_wake_plan(sorted, (size_t)(samples - samples / 100), bound, share);
		if (p.sleeps)
			printf("gap_us=%ld bound_us=%lld sleeps=yes sleep_us=%lld spacing_us=%.0f wakes_per_s=%.0f "
			       "late_share=%.4f wake_cpu_s_per_s=%.3f\n",
			       gaps[g], (long long)bound, (long long)p.sleep_us, p.spacing_us, 1e6 / p.spacing_us,
			       p.late_share, 1e6 / p.spacing_us * wake_cpu_us / 1e6);
		else
			printf("gap_us=%ld bound_us=%lld sleeps=no wake_cpu_s_per_s=1.000\n", gaps[g], (long long)bound);
	}
	free(sorted);
	free(over);
	return 0;
}
