/* The experiment: every model at every client count, --repeats times,
 * each cell's line as it ends (progress.c), then the report. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

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
