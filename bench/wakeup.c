/* The fewest wake-ups an open loop on time needs (wakeup.h). */
#include "wakeup.h"

double el_wake_late_share(const int64_t *over, size_t n, int64_t sleep_us, int64_t bound_us)
{
	/* Between two wake-ups spacing apart, the sends due in the first
	 * spacing - 2 bounds are late beyond the bound (the last bound before
	 * the earlier wake-up's own time went early with it). */
	double late = 0, span = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t spacing = sleep_us + over[i];
		if (spacing > 2 * bound_us)
			late += (double)(spacing - 2 * bound_us);
		span += (double)spacing;
	}
	return span > 0 ? late / span : 0;
}

struct el_wake_plan el_wake_plan(const int64_t *over, size_t n, int64_t bound_us, double max_share)
{
	struct el_wake_plan best = {.sleeps = false};
	if (n == 0)
		return best;
	double mean_over = 0;
	for (size_t i = 0; i < n; i++)
		mean_over += (double)over[i];
	mean_over /= (double)n;
	/* The share is not monotonic in the sleep (a long tail of overshoots
	 * weighs less when the wake-ups are further apart), so every sleep is
	 * tried. */
	for (int64_t s = 0; s <= 4 * bound_us; s++) {
		double share = el_wake_late_share(over, n, s, bound_us);
		double spacing = (double)s + mean_over;
		if (share <= max_share && spacing > 0 && (!best.sleeps || spacing > best.spacing_us))
			best = (struct el_wake_plan){true, s, spacing, share};
	}
	return best;
}
