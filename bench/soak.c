/* The soak: the load against each model in turn for a long time, the
 * monitor on; fails on growth of RSS or fds, any error, or a server that
 * dies or stops uncleanly. */
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mode.h"

/* The monitor CSV's columns (docs/interface.md). */
enum { COL_RSS_KIB = 5, COL_FDS = 7 };

/* One model's soak: its slopes and verdict. */
struct soak_row {
	double rss_slope, rss_mean, fd_slope, fd_mean, rss_limit;
	long rows;
	bool ok;
	char why[160];
};

/* The verdict of a soaked cell, from its monitor's CSV and its load: the
 * fit starts after the load's warm-up and a share of the window, where
 * allocators and caches reach their working size. */
static void soak_verdict(const struct bench_cfg *cfg, const struct bench_cell *c, const struct soak_limits *lim,
			 struct soak_row *r)
{
	char csv[800];
	snprintf(csv, sizeof(csv), "%s/%s/monitor.csv", cfg->dir, c->cell_dir);
	double from = c->from_s + (c->to_s - c->from_s) * lim->settle_frac;
	r->why[0] = 0;
	if (!c->ran) {
		snprintf(r->why, sizeof(r->why), "did not run: %.120s", c->failure);
	} else if (bench_monitor_slope(csv, COL_RSS_KIB, from, c->to_s, &r->rss_slope, &r->rss_mean, &r->rows) < 0 ||
		   bench_monitor_slope(csv, COL_FDS, from, c->to_s, &r->fd_slope, &r->fd_mean, &r->rows) < 0) {
		snprintf(r->why, sizeof(r->why), "too few monitor samples to fit");
	} else {
		r->rss_limit = lim->rss_kib_per_min + lim->rss_frac_per_min * r->rss_mean;
		const struct el_load_result *l = &c->load;
		if (c->server_died)
			snprintf(r->why, sizeof(r->why), "the server died (status %d)", c->server_exit);
		else if (c->server_exit != 0)
			snprintf(r->why, sizeof(r->why), "the server did not stop cleanly (status %d)", c->server_exit);
		else if (l->errors_total)
			snprintf(r->why, sizeof(r->why), "%llu errors", (unsigned long long)l->errors_total);
		else if (l->messages == 0)
			snprintf(r->why, sizeof(r->why), "no message measured");
		else if (r->rss_slope > r->rss_limit)
			snprintf(r->why, sizeof(r->why), "RSS grows %.0f KiB/min (limit %.0f)", r->rss_slope,
				 r->rss_limit);
		else if (r->fd_slope > lim->fds_per_min)
			snprintf(r->why, sizeof(r->why), "fds grow %.2f/min (limit %.2f)", r->fd_slope,
				 lim->fds_per_min);
	}
	r->ok = r->why[0] == 0;
}

/* soak.md, and the same table on standard output. */
static void soak_report(const struct bench_cfg *cfg, const struct bench_cell *cells, const struct soak_row *rows,
			int ran, int n, long clients, const struct soak_limits *lim)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/soak.md", cfg->dir);
	FILE *md = fopen(path, "w");
	char machine[256];
	bench_machine(machine, sizeof(machine));
	FILE *outs[2] = {stdout, md};
	for (int k = 0; k < 2; k++) {
		FILE *f = outs[k];
		if (!f)
			continue;
		if (k == 1)
			fprintf(f, "# echolab soak\n\nMachine: %s.\n\nCommand: `%s`\n\n", machine, cfg->command);
		fprintf(f, "Each model: %ld clients, %.0f s of load after a %.0f s warm-up; the slopes are "
			   "least-squares fits of the monitor's samples (every %.1f s) over the last %.0f%% "
			   "of the window. Limits: RSS %.0f KiB/min + %.1f%% of its mean per minute, fds %.2f/min, "
			   "errors 0, a clean stop.\n\n",
			clients, cfg->duration_s, cfg->warmup_s, cfg->interval_s, 100 * (1 - lim->settle_frac),
			lim->rss_kib_per_min, 100 * lim->rss_frac_per_min, lim->fds_per_min);
		fprintf(f, "| model | clients | msg/s | RTT mean us | errors | RSS mean MiB | RSS slope KiB/min | "
			   "fds | fd slope /min | samples | verdict |\n"
			   "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
		for (int m = 0; m < ran; m++) {
			const struct bench_cell *c = &cells[m];
			const struct soak_row *r = &rows[m];
			const struct el_load_result *l = &c->load;
			fprintf(f, "| %s | %ld | %.0f | %.0f | %llu | %.1f | %+.1f | %.0f | %+.2f | %ld | %s%s%s |\n",
				c->model, c->clients, l->window_s > 0 ? (double)l->messages / l->window_s : 0,
				l->hist.stats.mean, (unsigned long long)l->errors_total, r->rss_mean / 1024,
				r->rss_slope, r->fd_mean, r->fd_slope, r->rows, r->ok ? "ok" : "FAILED",
				r->ok ? "" : ": ", r->why);
		}
		if (*cfg->stop)
			fprintf(f, "\nInterrupted: %d of %d models ran.\n", ran, n);
		fflush(f);
	}
	if (md)
		fclose(md);
}

int bench_run_soak(struct bench_cfg *cfg, double total_s, const struct soak_limits *lim)
{
	static struct bench_cell cells[BENCH_MAX_MODELS];
	static struct soak_row rows[BENCH_MAX_MODELS];
	int n = cfg->nmodels;
	long clients = cfg->counts[0];
	/* The total is shared out: each model gets its warm-up and its part. */
	double per = total_s / n;
	cfg->duration_s = per - cfg->warmup_s;
	if (cfg->duration_s < 5) {
		fprintf(stderr, "echolab-bench: --duration %.0f is too short for %d models (at least %.0f s)\n",
			total_s, n, n * (cfg->warmup_s + 5));
		return 2;
	}
	struct bench_progress p = {.cfg = cfg, .total = n, .tty = isatty(2)};
	cfg->progress = bench_show_progress;
	cfg->progress_arg = &p;
	fprintf(stderr, "echolab-bench: soak, %d models x %ld clients, %.0f s each (%.0f s warm-up): "
			"about %dm%02ds; writing %s\n",
		n, clients, per, cfg->warmup_s, (int)(n * (per + 1)) / 60, (int)(n * (per + 1)) % 60, cfg->dir);
	int ran = 0, failed = 0;
	for (int m = 0; m < n && !*cfg->stop; m++) {
		struct bench_cell *c = &cells[m];
		snprintf(c->model, sizeof(c->model), "%s", cfg->models[m]);
		/* A sequential model serves one client at a time: the other 499
		 * would only time out in its accept queue, by design. Its soak
		 * is one client (docs/decisions.md). */
		c->clients = (cfg->traits[m] & EL_TRAIT_SEQUENTIAL) ? 1 : clients;
		snprintf(c->cell_dir, sizeof(c->cell_dir), "cells/soak-%.31s-%ld", cfg->models[m], c->clients);
		p.cell = c;
		p.index = m + 1;
		p.left_s = (n - m - 1) * (per + 1);
		bench_run_cell(cfg, c, 0);
		if (p.tty)
			fprintf(stderr, "\r\033[K");
		bench_cell_line(cfg, c, m + 1, n, p.left_s);
		ran++;
		soak_verdict(cfg, c, lim, &rows[m]);
		failed += !rows[m].ok;
	}
	soak_report(cfg, cells, rows, ran, n, clients, lim);
	char abs[PATH_MAX];
	fprintf(stderr, "soak: %d of %d models passed; %s/soak.md\n", ran - failed, n,
		realpath(cfg->dir, abs) ? abs : cfg->dir);
	return *cfg->stop ? 130 : failed ? 1 : 0;
}

/* The soak's own settings (its options). */
static struct soak_limits soak_lim = {
	.rss_kib_per_min = 512, .rss_frac_per_min = 0.002, .fds_per_min = 0.5, .settle_frac = 0.2};

static int opt_rss_slope(const char *arg)
{
	return el_cli_parse_num(arg, 0, 1e9, &soak_lim.rss_kib_per_min)
		? 0 : el_cli_usage("echolab-bench", "bad --rss-slope '%s' (KiB per minute)", arg);
}

static int opt_fd_slope(const char *arg)
{
	return el_cli_parse_num(arg, 0, 1e9, &soak_lim.fds_per_min)
		? 0 : el_cli_usage("echolab-bench", "bad --fd-slope '%s' (fds per minute)", arg);
}

/* The lab's largest count, 500 clients (its whole duration is the run's). */
static int soak_defaults(struct bench_cfg *cfg, const struct bench_args *a, const struct bench_cfg *known)
{
	(void)known;
	if (!a->clients) {
		cfg->counts[0] = 500;
		cfg->ncounts = 1;
	}
	return 0;
}

static int soak_run(struct bench_cfg *cfg, const struct bench_args *a)
{
	return bench_run_soak(cfg, a->duration_set ? cfg->duration_s : 600, &soak_lim);
}

const struct bench_mode bench_mode_soak = {
	.name = "soak",
	.synopsis = "--soak [--models LIST] [--clients N] [--duration TOTAL]\n"
		    "[--rss-slope KIB] [--fd-slope N]",
	.help = "the load (500 clients; iterative, which serves one at a\n"
		"time, 1) against each model in turn for\n"
		"--duration seconds in all (default 600), the monitor on;\n"
		"fails when RSS or the fd count grows (least-squares\n"
		"slope over the last 80% of each window), on any error\n"
		"or wrong reply, or when a server dies or stops uncleanly",
	.options = (const struct bench_mode_option[]){
		{.name = "rss-slope",
		 .arg = "KIB",
		 .help = "the soak's RSS limit, KiB/min, plus 0.2% of the mean\n"
			 "RSS per minute (default 512)",
		 .parse = opt_rss_slope},
		{.name = "fd-slope",
		 .arg = "N",
		 .help = "the soak's fd limit, fds/min (default 0.5)",
		 .parse = opt_fd_slope},
		{0},
	},
	.defaults = soak_defaults,
	.run = soak_run,
};
