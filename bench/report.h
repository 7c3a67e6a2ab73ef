/* What the experiment's report (report.c) and its text (report_text.c)
 * share: a cell's repeats merged. Internal to bench/. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "bench.h"

/* One model at one client count, its repeats merged. */
struct agg {
	const char *model;
	long clients;
	int repeats, ran;
	struct el_hist hist;                  /* every RTT of every repeat */
	struct el_hist connect, first_reply;  /* sessions: every connect's */
	struct el_hist probe;                 /* --probe: every probe RTT */
	int probed;                           /* repeats with a probe result */
	uint64_t sessions;
	double window_s;                      /* the repeats' windows, summed */
	struct el_stats rate;                 /* msgs/s of each repeat */
	struct el_stats p99;                  /* p99 of each repeat */
	struct el_stats eff;                  /* msgs per server CPU-s of each repeat */
	struct el_stats pss_rep;              /* mean PSS of each repeat */
	double rates[BENCH_MAX_REPEATS];      /* msgs/s of each repeat, in order */
	struct bench_spread spread;           /* how the repeats' msgs/s agree */
	struct el_stats cpu, pss, rss;        /* every monitor sample */
	long procs, threads;
	uint64_t errors, messages;
	long reached, server_conns;           /* the least over the repeats */
	long server_conns_min;
	double monitor_gap_s;                 /* the longest */
	double loop_ratio;                    /* the largest of the repeats' (0: none) */
	long long out_bytes;                  /* the most a repeat's server wrote to stdout */
	double out_window_s;                  /* that repeat's window */
	int short_runs;                       /* repeats short of the clients */
	int invalid_runs;                     /* repeats the generator shaped */
	char invalid[96];                     /* the first one's first reason */
	double parts[3];
	int nparts;
	const struct bench_cell *first;       /* the first repeat that ran */
	char failure[256];
};

/* Messages per server CPU-second over the repeats (0: no CPU figure). */
double bench_agg_per_cpu_s(const struct agg *a);

/* The report's text, Markdown or (html) HTML: the notes on the server's
 * output, the verdicts, the results' tables and the probe's. a holds n
 * cells (aggregate's order: model by model, client count by count). */
void bench_report_output_notes(FILE *f, bool html, const struct bench_cfg *cfg, const struct agg *a, int n);
void bench_report_verdicts(FILE *f, bool html, const struct bench_cfg *cfg, const struct agg *a, int n);
void bench_report_tables(FILE *f, bool html, const struct bench_cfg *cfg, const struct agg *a, int n);
void bench_report_probe_table(FILE *f, bool html, const struct bench_cfg *cfg, const struct agg *a, int n);

#endif
