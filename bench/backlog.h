/* The lab's backlog experiment (echolab-bench --backlog-experiment): for
 * each server, listen backlog and arrival pattern, clients connect, send
 * one message and hold their connection while the traffic is captured in
 * a network namespace of the run's own; the capture is analysed into a
 * table, a timeline per run and a paragraph that says whether the lab's
 * finding (backlog 1: the iterative server's clients send SYNs again, the
 * fork server's do not) holds. */
#ifndef EL_BENCH_BACKLOG_H
#define EL_BENCH_BACKLOG_H

#include <stdbool.h>
#include <stddef.h>

#include "bench.h"

#define BL_MAX_BACKLOGS 8

enum bl_pattern { BL_ONE_BY_ONE, BL_BURST };

struct bl_opts {
	int backlogs[BL_MAX_BACKLOGS];
	int nbacklogs;
	int one_by_one;  /* clients started one after another (default 10) */
	double gap_s;    /* between two of them (default 0.1) */
	int burst;       /* clients started at once (default 50) */
	double hold_s;   /* how long the clients wait for their reply after the last started (3) */
	const struct bench_server *servers; /* by command, beside the models */
	int nservers;
	const char *pcap_tool; /* echolab-pcap, for the analyser's JSON of each capture */
};

/* One run: what its capture shows. */
struct bl_run {
	char server[32];
	unsigned traits;  /* enum el_trait; 0 for a server by command */
	int backlog;
	enum bl_pattern pattern;
	int clients;
	bool ran;
	char failure[256];
	char stem[96];    /* backlog/<stem>.{pcap,json,dat,gp,svg,png} */
	/* From the capture: the clients whose first reply came before the
	 * first client's FIN (all close at once), SYNs sent again, the slowest
	 * served client's time from its first SYN to its reply (-1: none
	 * served), connections seen and handshakes completed. */
	int served;
	unsigned syn_retransmits;
	double slowest_s;
	long flows, handshakes;
	/* The namespace's kernel counters over the run. */
	long listen_overflows, listen_drops;
	int replies;      /* replies the clients read (a cross-check) */
	unsigned port;    /* the server's port in the run's namespace */
};

/* The pattern as the report names it: "one by one", "burst of 50". */
void bl_pattern_name(const struct bl_run *r, char *out, size_t len);

/* The run's row of the report's table (markdown), as the report prints
 * it: | server | pattern | served | SYNs sent again | slowest | drops |. */
void bl_table_row(const struct bl_run *r, char *out, size_t len);

/* Parses "1,8,128" (each 0..65535). Returns the count, or -1. */
int bl_parse_backlogs(const char *s, struct bl_opts *o);

/* Runs the experiment for cfg's models and o's servers, writing under
 * cfg->dir: backlog/ (per run: the capture, the analyser's JSON, the
 * timeline's data, script and plots), backlog/summary.csv, report.md and
 * report.html. Returns 0, 1 when a run could not run, 130 when stopped. */
int bench_backlog_experiment(const struct bench_cfg *cfg, const struct bl_opts *o);

/* The sentence about the lab's claim for one run, as the report prints it
 * (without the list's "- "). */
void bl_claim(const struct bl_run *r, char *out, size_t len);

#endif
