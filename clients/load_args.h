/* echolab-load's command line (load_args.c): its options, parsed and
 * checked, as load_main.c runs them. */
#ifndef EL_LOAD_ARGS_H
#define EL_LOAD_ARGS_H

#include <stdbool.h>
#include <sys/socket.h>

#include "load.h"

#define MAX_PCT 16

#define MAX_BINDS 64

struct el_load_options {
	struct el_load_cfg cfg;
	struct sockaddr_storage binds[MAX_BINDS];
	char json_path[1024], hgrm_path[1024], rtt_path[1024];
	double pcts[MAX_PCT];
	int npct;
	const char *json, *hgrm, *rtt_log, *hlog;
	char hlog_path[1024];
	bool quiet;
	bool allow_invalid;
	bool arrival_set, seed_set;
	double interval_s, until_ci;
	double steps[32];      /* --rate-steps, messages/s per connection */
	int nsteps;
	double step_s;         /* --step-duration */
	double probe;          /* --probe R: msgs/s of the latency probe */
	const char *intervals_csv;
	char intervals_path[1024];
	long size;
	const char *message;
	/* Parsed, then set into cfg by finish_options. */
	long port, threads;
	double timeout_s;
	long seg_i, seg_n, segments; /* --segment I/N, --segments N */
};

/* Parses argv into o (--help and --version print and exit 0). Returns 0,
 * or 2 after a one-line usage error on stderr. */
int el_load_parse_args(int argc, char **argv, struct el_load_options *o);

#endif
