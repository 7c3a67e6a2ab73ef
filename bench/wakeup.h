/* What a sleeping open loop must pay on this machine to keep its sends
 * on time (issue 28). echolab-load's rule: a send is on time within a
 * bound (a tenth of a connection's gap) late, and a run is valid when 99%
 * of its sends are. A loop that sleeps between its wake-ups and, at each,
 * sends everything due up to the bound early as well as late, is late
 * beyond the bound for the sends due in the part of the time between two
 * wake-ups that is longer than twice the bound. The timer's overshoot
 * (how late a sleep ends) decides how far apart the wake-ups may be; a
 * wake-up's CPU time decides what they cost. Pure functions, over
 * overshoots measured by bench-wakeup. */
#ifndef EL_BENCH_WAKEUP_H
#define EL_BENCH_WAKEUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The share of sends more than bound_us late when every wake-up comes
 * sleep_us after the one before plus an overshoot drawn from over[0..n)
 * (each as likely), the sends spread evenly over time. */
double el_wake_late_share(const int64_t *over, size_t n, int64_t sleep_us, int64_t bound_us);

struct el_wake_plan {
	bool sleeps;        /* false: no sleep keeps the share; the loop spins */
	int64_t sleep_us;   /* the sleep asked for after a wake-up */
	double spacing_us;  /* the mean time between wake-ups */
	double late_share;  /* of the sends, beyond the bound */
};

/* The fewest wake-ups (the longest mean spacing, over sleeps of 0 to four
 * bounds) that keep the late share at most max_share. */
struct el_wake_plan el_wake_plan(const int64_t *over, size_t n, int64_t bound_us, double max_share);

#endif
