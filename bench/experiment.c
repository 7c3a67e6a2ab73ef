/* The experiment, echolab-bench's default mode: every model at every
 * client count, --repeats times, each cell's line as it ends
 * (progress.c), then the report; and --quick, its smoke test. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mode.h"

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

static int experiment_run(struct bench_cfg *cfg, const struct bench_args *a)
{
	(void)a;
	return bench_run_experiment(cfg);
}

/* The experiment measures each cell's spread: 3 repeats. Three repeats
 * of shorter windows: a 1 s window after 0.5 s gave the same medians as
 * 2 s after 1 s (epoll, uring, threadpool, thread at 100 clients, 5
 * repeats each, within 1-4%); 2 s after 1 s keeps ./ci/bench's whole
 * grid under 10 minutes (decisions 47). */
static int experiment_defaults(struct bench_cfg *cfg, const struct bench_args *a, const struct bench_cfg *known)
{
	(void)known;
	if (!a->repeats_set)
		cfg->repeats = BENCH_DEFAULT_REPEATS;
	if (!a->duration_set)
		cfg->duration_s = 2;
	if (!a->warmup_set)
		cfg->warmup_s = 1;
	return 0;
}

const struct bench_mode bench_mode_experiment = {
	.synopsis = "[--models LIST] [--clients LIST] [--duration S] [--warmup S]\n"
		    "[--repeats R] [--interval S] [--size BYTES] [--threads T]\n"
		    "[--spawn | --processes P] [--raw] [--out DIR] [--server-bin PATH]\n"
		    "[--server NAME=CMD]... [--cpus SERVER:LOAD] [--quick]\n"
		    "[--workload closed|session:K] [--lan [--delay MS]]\n"
		    "[--target HOST:PORT [--target-monitor CSV]] [--probe R]",
	.takes = TAKES_SERVER | TAKES_WORKLOAD | TAKES_PROBE | TAKES_LAN | TAKES_RAW,
	.defaults = experiment_defaults,
	.run = experiment_run,
};

/* The smoke test: the lab's two concurrent servers (a process and a
 * thread per connection: fork and thread), 10 and 30 clients, 1 s after
 * 0.5 s. */
static int quick_defaults(struct bench_cfg *cfg, const struct bench_args *a, const struct bench_cfg *known)
{
	static const unsigned lab[] = {EL_TRAIT_PROCESS_PER_CONNECTION, EL_TRAIT_THREAD_PER_CONNECTION};
	if (!a->models) {
		cfg->nmodels = 0;
		for (size_t i = 0; i < sizeof(lab) / sizeof(lab[0]); i++) {
			const char *m = bench_model_with(known, lab[i]);
			if (m)
				snprintf(cfg->models[cfg->nmodels++], sizeof(cfg->models[0]), "%s", m);
		}
	}
	if (!a->clients) {
		cfg->counts[0] = 10;
		cfg->counts[1] = 30;
		cfg->ncounts = 2;
	}
	if (!a->duration_set)
		cfg->duration_s = 1;
	if (!a->warmup_set)
		cfg->warmup_s = 0.5;
	return 0;
}

/* In the experiment's synopsis ([--quick]): none of its own. */
const struct bench_mode bench_mode_quick = {
	.name = "quick",
	.help = "smoke test: fork and thread, 10 and 30 clients, 1 s",
	.takes = TAKES_SERVER | TAKES_WORKLOAD | TAKES_PROBE | TAKES_LAN | TAKES_RAW,
	.defaults = quick_defaults,
	.run = experiment_run,
};
