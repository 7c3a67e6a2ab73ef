/* What every mode shows while it runs: the live line of the cell under
 * way (on a terminal), and each cell's line once it ends, with what its
 * figures say of it (short of its clients, a monitor gap, invalid). */
#include <stdio.h>

#include "bench.h"

void bench_show_progress(struct el_load *l, double elapsed, void *arg)
{
	struct bench_progress *p = arg;
	if (!p->tty)
		return;
	static struct el_load_result r;
	el_load_snapshot(l, &r, true);
	double cell = p->cfg->warmup_s + p->cfg->duration_s;
	double left = p->left_s + (cell - elapsed > 0 ? cell - elapsed : 0);
	fprintf(stderr, "\r[%d/%d] %s, %ld clients: %4.1f/%.1f s, p99 %.0f us, up %ld, errors %llu; "
			"%dm%02ds left   ",
		p->index, p->total, p->cell->model, p->cell->clients, elapsed, cell,
		el_hist_percentile_live(&r.hist, 99), r.up, (unsigned long long)r.errors_total,
		(int)left / 60, (int)left % 60);
	fflush(stderr);
}

void bench_cell_line(const struct bench_cfg *cfg, const struct bench_cell *c, int index, int total,
		      double left)
{
	if (!c->ran) {
		fprintf(stderr, "[%d/%d] %s, %ld clients: did not run: %s\n", index, total, c->model,
			c->clients, c->failure);
		return;
	}
	const struct el_load_result *r = &c->load;
	char server[96] = "no monitor sample in the window";
	if (c->cpu.n)
		snprintf(server, sizeof(server), "CPU %.0f%%, PSS %.1f MiB", c->cpu.mean, c->pss_mib.mean);
	fprintf(stderr,
		"[%d/%d] %s, %ld clients: %.0f msg/s, RTT mean %.0f us p99 %.0f us, %s, errors %llu%s; "
		"%dm%02ds left\n",
		index, total, c->model, c->clients, r->window_s > 0 ? (double)r->messages / r->window_s : 0,
		r->hist.stats.mean, r->hist.total ? el_hist_percentile(&r->hist, 99) : 0, server,
		(unsigned long long)r->errors_total, c->short_run ? ", SHORT of its clients" : "", (int)left / 60,
		(int)left % 60);
	if (c->short_run)
		fprintf(stderr, "        %ld of %ld clients answered before the window", c->reached, c->clients);
	if (c->short_run && c->server_conns >= 0)
		fprintf(stderr, "; the server held %ld to %ld", c->server_conns_min, c->server_conns);
	if (c->short_run && bench_has_trait(cfg, c->model, EL_TRAIT_SEQUENTIAL))
		fprintf(stderr, ": a sequential model serves one connection at a time, the others wait");
	if (c->short_run)
		fputc('\n', stderr);
	if (c->monitor_gap_s > 1.0)
		fprintf(stderr, "        the monitor's samples were %.1f s apart once (see monitor.err)\n",
			c->monitor_gap_s);
	if (el_load_no_server(r)) {
		fprintf(stderr, "        no server answered: every connection was refused\n");
	} else if (!r->valid) {
		fprintf(stderr, "        INVALID, not measured as asked:");
		for (int i = 0; i < r->nreasons; i++)
			fprintf(stderr, "%s %s", i ? ";" : "", r->reasons[i]);
		fputc('\n', stderr);
	}
}
