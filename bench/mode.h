/* echolab-bench's modes: what one is (struct bench_mode), the command
 * line every mode reads (struct bench_args), and the table (modes.c).
 *
 * A mode is its file, which ends in its row (a const struct bench_mode
 * named bench_mode_NAME) and keeps its own settings to itself, and one
 * row of modes.def, MODE(NAME, FILE). From the table come the option that
 * selects each mode, its own options and their parsers, --help, the
 * usage errors ("--p99-target goes with --sweep", "... exclude each
 * other", "--probe is for ..."), the defaults of its cells and its run. */
#ifndef BENCH_MODE_H
#define BENCH_MODE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "bench.h"

/* The command line as every mode reads it, beside the cells' settings
 * that bench_args.c puts into bench_cfg. */
struct bench_args {
	const char *models, *clients, *out;
	bool duration_set, repeats_set, warmup_set, lan;
	double delay_ms;                                     /* -1: not given */
	struct bench_server servers[BENCH_MAX_SERVERS];      /* --server NAME=CMD */
	int nservers;
	const struct bench_mode *mode;                       /* the mode chosen */
	char **operands;                                     /* after the options */
	int noperands;
	char self[PATH_MAX];                                 /* this program's directory */
};

/* What a mode takes of the options the experiment takes. */
enum {
	TAKES_SERVER = 1 << 0,   /* --server NAME=CMD */
	TAKES_WORKLOAD = 1 << 1, /* --workload */
	TAKES_PROBE = 1 << 2,    /* --probe */
	TAKES_LAN = 1 << 3,      /* --lan, --delay */
	TAKES_RAW = 1 << 4,      /* --raw */
};

/* A mode's own option: its name (as getopt_long takes it, without the
 * dashes), its argument as --help names it (NULL: a flag), its --help
 * text (lines joined by '\n'), and its parser into the mode's own
 * settings (arg NULL for a flag). The parser returns 0, or 2 after a
 * usage error (el_cli_usage). */
struct bench_mode_option {
	const char *name, *arg, *help;
	int (*parse)(const char *arg);
	const char *hint; /* said after "--NAME goes with --MODE" when its mode is not chosen */
};

/* A mode. Every function pointer but run may be NULL. */
struct bench_mode {
	const char *name;     /* the option that selects it, "sweep"; NULL: the experiment, the default */
	const char *synopsis; /* its usage, after "echolab-bench " (lines joined by '\n') */
	const char *arg;      /* shown after the selecting option in --help ("A B"), or NULL */
	const char *help;     /* the selecting option's --help text */
	unsigned takes;       /* TAKES_*: which of the experiment's options it takes */
	const struct bench_mode_option *options; /* its own, ending with {0}; NULL: none */
	/* Its operands after the options (--compare's two directories): a
	 * mode with operands reads results and starts no server. */
	int operands;
	const char *operands_are; /* "two results directories: DIR_A DIR_B" */
	/* --server's servers are the mode's own to run, not models of its
	 * cells (the backlog experiment's). */
	bool servers_apart;
	/* Sets what the command line left unset, over every mode's
	 * defaults (one repeat, every model, 30 to 500 clients), known
	 * holding the server's models. Returns 0, or 2 after a usage error. */
	int (*defaults)(struct bench_cfg *cfg, const struct bench_args *a, const struct bench_cfg *known);
	/* Its own usage checks, after the table's: 0, or 2 after saying why. */
	int (*check)(const struct bench_cfg *cfg, const struct bench_args *a);
	/* Its run, into cfg->dir: the program's exit status (130: interrupted). */
	int (*run)(struct bench_cfg *cfg, const struct bench_args *a);
};

/* The modes, the experiment first (modes.c). */
extern const struct bench_mode *const bench_modes[];
extern const size_t bench_nmodes;

/* "--sweep", or "the experiment": a mode as usage errors name it. */
const char *bench_mode_title(const struct bench_mode *m, char *buf, size_t len);

#endif
