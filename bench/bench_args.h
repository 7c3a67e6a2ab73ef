/* echolab-bench's command line (bench_args.c): the options every cell
 * takes, the modes' options from their table (mode.h), --help, and the
 * usage errors the table makes. Internal to bench/. */
#ifndef BENCH_ARGS_H
#define BENCH_ARGS_H

#include "bench.h"
#include "mode.h"

/* Parses argv into cfg and a: the cells' options into cfg, the mode
 * (a->mode, the experiment when none was chosen) and its options into
 * the mode's own settings, the words after the options into
 * a->operands. Says which options go with a mode not chosen, and which
 * modes exclude each other. Returns -1 to go on, or the exit status (0
 * after --help or --version, 2 after a usage error). */
int bench_parse_args(int argc, char **argv, struct bench_cfg *cfg, struct bench_args *a);

#endif
