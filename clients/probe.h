/* A latency probe under load (echolab-load --probe R, echolab-bench
 * --probe R): one more connection, open loop at its own fixed rate,
 * started when the load's measurement window begins and run to its end in
 * a thread of its own. Its RTTs are the server's latency while the others
 * make the load, without the load generator's own queueing (mutilate's
 * design). */
#ifndef EL_PROBE_H
#define EL_PROBE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "load.h"

struct el_probe {
	struct el_load_cfg cfg; /* the load's, as one connection at the probe's rate */
	double rate;            /* messages/s */
	struct el_load *l;
	pthread_t thread;
	bool tried;             /* a start was attempted */
	int rc;                 /* el_load_run's */
	char err[256];
	struct el_load_result r;
};

/* Sets p up to probe beside a load configured as load, at rate messages/s
 * (fixed gaps). Never fails; nothing runs until el_probe_tick. */
void el_probe_init(struct el_probe *p, const struct el_load_cfg *load, double rate);

/* Called with a snapshot of the load (its progress callback's): once the
 * load's window has begun with more than half a second of duration_s left,
 * starts the probe for the rest of it. A start that fails is not retried;
 * el_probe_finish says why. Returns 0 while no start was tried, 1 after. */
int el_probe_tick(struct el_probe *p, const struct el_load_result *snap, double duration_s);

/* Waits for the probe's end and frees its load. Returns its result (valid
 * until p is reused), or NULL with why it has none in why. */
const struct el_load_result *el_probe_finish(struct el_probe *p, char *why, size_t len);

#endif
