/* The latency probe: a one-connection open-loop load in its own thread. */
#include <stdio.h>
#include <string.h>

#include "probe.h"

void el_probe_init(struct el_probe *p, const struct el_load_cfg *load, double rate)
{
	memset(p, 0, sizeof(*p));
	p->cfg = *load;
	p->cfg.conns = 1;
	p->cfg.threads = 1;
	p->cfg.spawn = false;
	p->cfg.connect_rate = 0;
	p->cfg.rate = rate;
	p->cfg.poisson = false;
	p->cfg.session = 0;
	p->cfg.count = 0;
	p->cfg.warmup_s = 0;
	p->cfg.rtt_log_fd = -1;
	p->cfg.nbinds = 0;
	p->cfg.seg_count = 0;
	p->cfg.start_at_unix = 0;
	p->rate = rate;
}

static void *probe_run(void *arg)
{
	struct el_probe *p = arg;
	p->rc = el_load_run(p->l, NULL, NULL, p->err, sizeof(p->err));
	return NULL;
}

int el_probe_tick(struct el_probe *p, const struct el_load_result *snap, double duration_s)
{
	if (p->tried)
		return 1;
	if (snap->window_s <= 0 || duration_s - snap->window_s <= 0.5)
		return 0;
	p->tried = true;
	p->cfg.duration_s = duration_s - snap->window_s;
	p->l = el_load_create(&p->cfg, p->err, sizeof(p->err));
	if (p->l && pthread_create(&p->thread, NULL, probe_run, p) != 0) {
		snprintf(p->err, sizeof(p->err), "cannot start its thread");
		el_load_destroy(p->l);
		p->l = NULL;
	}
	return 1;
}

const struct el_load_result *el_probe_finish(struct el_probe *p, char *why, size_t len)
{
	if (!p->l) {
		snprintf(why, len, "%s", p->tried ? p->err : "the window was too short for it");
		return NULL;
	}
	pthread_join(p->thread, NULL);
	const struct el_load_result *r = NULL;
	if (p->rc < 0) {
		snprintf(why, len, "%s", p->err);
	} else {
		el_load_snapshot(p->l, &p->r, false);
		r = &p->r;
	}
	el_load_destroy(p->l);
	p->l = NULL;
	return r;
}
