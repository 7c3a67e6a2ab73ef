/* The experiment: every model at every client count, --repeats times,
 * each cell's line as it ends, then the report; and the progress line
 * every mode shows while a cell runs. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

void bench_show_progress(struct el_load *l, double elapsed, void *arg)
{
	struct bench_progress *p = arg;
	if (!p->tty)
		return;
	static struct el_load_result r;
	el_load_result(l, &r, true);
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

int bench_run_experiment(struct bench_cfg *cfg)
{
	int total = cfg->nmodels * cfg->ncounts * cfg->repeats;
	struct bench_cell *cells = calloc((size_t)total, sizeof(*cells));
	if (!cells) {
		fprintf(stderr, "echolab-bench: out of memory\n");
		return 1;
	}
	struct bench_progress p = {.cfg = cfg, .total = total, .tty = isatty(2)};
	cfg->progress = bench_show_progress;
	cfg->progress_arg = &p;
	double est = total * (cfg->warmup_s + cfg->duration_s + 1.0);
	fprintf(stderr, "echolab-bench: %d models x %d client counts x %d repeat%s, %.1f s each: about "
			"%dm%02ds; writing %s\n",
		cfg->nmodels, cfg->ncounts, cfg->repeats, cfg->repeats == 1 ? "" : "s",
		cfg->warmup_s + cfg->duration_s, (int)est / 60, (int)est % 60, cfg->dir);
	int ran = 0, failed = 0;
	/* Repeats go round the whole grid, so a slow drift of the machine
	 * spreads over every cell instead of landing on one. */
	for (int rep = 0; rep < cfg->repeats && !*cfg->stop; rep++) {
		for (int m = 0; m < cfg->nmodels && !*cfg->stop; m++) {
			for (int k = 0; k < cfg->ncounts && !*cfg->stop; k++) {
				struct bench_cell *c = &cells[ran];
				snprintf(c->model, sizeof(c->model), "%s", cfg->models[m]);
				c->clients = cfg->counts[k];
				c->repeat = rep;
				if (cfg->repeats > 1)
					snprintf(c->cell_dir, sizeof(c->cell_dir), "cells/%s-%ld-r%d", c->model,
						 c->clients, rep + 1);
				else
					snprintf(c->cell_dir, sizeof(c->cell_dir), "cells/%s-%ld", c->model,
						 c->clients);
				p.cell = c;
				p.index = ran + 1;
				p.left_s = (total - ran - 1) * (cfg->warmup_s + cfg->duration_s + 1.0);
				bench_run_cell(cfg, c, 0);
				if (p.tty)
					fprintf(stderr, "\r\033[K");
				bench_cell_line(cfg, c, ran + 1, total, p.left_s);
				failed += !c->ran;
				ran++;
			}
		}
	}
	int rc = bench_report(cfg, cells, ran);
	free(cells);
	char abs[PATH_MAX];
	fprintf(stderr, "%s%s\n", *cfg->stop ? "echolab-bench: interrupted; the report has what was measured: " : "report: ",
		realpath(cfg->dir, abs) ? abs : cfg->dir);
	printf("%s/report.md\n", cfg->dir);
	if (*cfg->stop)
		return 130;
	return rc < 0 || failed ? 1 : 0;
}
