/* echolab-bench's command line: what it asks for beyond the cells'
 * settings (struct args), and its parser (bench_args.c). Internal to
 * bench/: bench_main.c's modes and checks read it. */
#ifndef BENCH_ARGS_H
#define BENCH_ARGS_H

#include <stdbool.h>

#include "backlog.h"
#include "bench.h"

/* The command line as parsed, beside the cell settings it puts into
 * bench_cfg: which mode, and each mode's own settings. */
struct args {
	const char *models, *clients, *out, *sweep_model;
	bool quick, sweep, tools, soak, backlog_exp, lan, compare, duration_set, repeats_set, warmup_set;
	struct soak_limits lim;
	double target, start_rate, delay_ms, fail_pct, min_pct;
	struct bl_opts bl;
	struct bench_server servers[BENCH_MAX_SERVERS]; /* --server NAME=CMD */
	int nservers;
};

/* What a mode takes of the options the experiment takes. */
enum {
	TAKES_SERVER = 1 << 0,   /* --server NAME=CMD */
	TAKES_WORKLOAD = 1 << 1, /* --workload */
	TAKES_PROBE = 1 << 2,    /* --probe */
	TAKES_LAN = 1 << 3,      /* --lan, --delay */
	TAKES_RAW = 1 << 4,      /* --raw */
};

/* Parses argv into cfg and a. Returns -1 to go on, or the exit status
 * (0 after --help or --version, 2 after a usage error). */
int bench_parse_args(int argc, char **argv, struct bench_cfg *cfg, struct args *a);

#endif
