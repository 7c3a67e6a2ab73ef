/* echolab-bench: the seed experiment for every server model. A cell is one
 * model at one client count (one repeat): a server, the monitor on its
 * process tree, and the load engine, with every raw file kept. */
#ifndef EL_BENCH_H
#define EL_BENCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lan.h"
#include "load.h"
#include "stats.h"
#include "supervise.h"
#include "traits.h"

#define BENCH_MAX_MODELS 16
#define BENCH_MAX_SERVERS 8

/* A server given by command (--server NAME=CMD), for the experiment and
 * the backlog experiment. */
struct bench_server {
	char name[32];
	char cmd[1024];
};
#define BENCH_MAX_COUNTS 16
#define BENCH_MAX_REPEATS 20
#define BENCH_DEFAULT_REPEATS 3 /* the experiment's, without --repeats */
#define BENCH_PARTS 20 /* RTTs in each of the first, middle and last parts */

struct bench_cfg {
	const char *server;  /* path of echolab-server */
	const char *monitor; /* path of echolab-monitor */
	char models[BENCH_MAX_MODELS][32];
	unsigned traits[BENCH_MAX_MODELS]; /* enum el_trait; 0 for a server by command */
	/* NULL, or the command (--server NAME=CMD) that starts models[i]. */
	const char *cmds[BENCH_MAX_MODELS];
	int nmodels;
	long counts[BENCH_MAX_COUNTS];
	int ncounts;
	int repeats;
	double duration_s, warmup_s, interval_s;
	size_t msg_size;
	int threads;         /* load event loops; 0: one per CPU */
	bool spawn;
	int processes;       /* the load over this many processes; 0: threads */
	bool raw;            /* echo bytes (--raw): echolab's models with --raw */
	long session;        /* --workload session:K; 0: long-lived clients */
	double probe_rate;   /* --probe R: msgs/s of the latency probe; 0: none */
	/* --cpus SERVER:LOAD: where the server and the load may run (pinned
	 * false: anywhere, sharing every CPU), and the text for the report. */
	bool pinned;
	/* The default placement (neither --cpus nor --no-pin): the load's
	 * event loop i pinned to CPU i, beside the server loop that takes the
	 * connections arriving on that CPU (docs/decisions.md 47). */
	bool pair;
	/* --target HOST:PORT: a server already running elsewhere, measured
	 * from the client side only (no server started, none monitored). */
	const char *target_host;
	unsigned target_port;
	/* --target-monitor: echolab-monitor --epoch's CSV of the target. */
	const char *target_monitor;
	char target_text[300];
	cpu_set_t server_cpus, load_cpus;
	/* --lan: the server in this process's network namespace (the LAN's
	 * server side), the load in the client's; NULL on one host. */
	const struct el_lan *lan;
	/* Where the server and the load ran, for the report. */
	char placement[512];
	char dir[512];       /* results/<timestamp> */
	char command[2048];  /* how this run was started, for the report */
	volatile sig_atomic_t *stop;
	/* NULL, or how a server by command starts, in place of a process
	 * group of its own (echolab-conform --class --bench: inside the
	 * submission's sandbox). cmd has its placeholders filled; it is
	 * ready when host:port accepts. Returns 0, or -errno with the
	 * reason in why. */
	int (*start_cmd)(void *arg, struct el_sup *s, const char *cmd, const char *host, unsigned port,
			 const char *out_path, const char *err_path, char *why, size_t whylen);
	void *start_cmd_arg;
	/* Called about once a second while a cell's load runs. */
	void (*progress)(struct el_load *l, double elapsed_s, void *arg);
	void *progress_arg;
};

/* What one cell measured. */
struct bench_cell {
	char model[32];
	long clients;
	int repeat;
	bool ran;            /* false when the server could not start */
	char failure[256];
	struct el_load_result load;
	/* The load generator's own CPU over its run, user and system, in
	 * seconds: the threads of this process that ran it (its workers run
	 * in echolab-bench; what else this process did meanwhile, the
	 * progress line, is in it too). 0 with --processes or --spawn, whose
	 * workers are processes of their own. */
	double load_cpu_s;
	/* --probe: the probe's own result (load.probe points here), or why
	 * it has none. */
	struct el_load_result probe;
	char probe_failure[256];
	struct el_stats cpu, pss_mib, rss_mib; /* monitor samples in the window */
	long max_procs, max_threads;
	double parts[3];     /* mean RTT of the first, middle, last BENCH_PARTS */
	long logged;         /* RTTs of the logged connection */
	char cell_dir[96];  /* under dir, relative: cells/<model>-<clients>[-rN] */
	double from_s, to_s; /* the measurement window on the monitor's clock */
	bool server_died;    /* the server was gone before the cell stopped it */
	int server_exit;     /* its exit status after SIGTERM; -1: it needed SIGKILL */
	/* Did the cell measure its client count? The connections the server
	 * answered before the window (every one it answered, for a run
	 * without the load's gate); the connections the server held at its
	 * peak and the fewest it held in the window, from the monitor's
	 * processes or threads for models with one per connection (-1 for the
	 * others); and the longest time between two monitor samples. A cell
	 * short of its clients is marked so. */
	long reached;
	long server_conns, server_conns_min;
	long min_procs, min_threads; /* in the window; -1: no sample there */
	double monitor_gap_s;
	bool short_run;
	bool monitored;      /* the server's CPU and memory columns were read */
	/* The most connections an event loop of the server held at once,
	 * largest over smallest, from the line echolab-server's models with
	 * several loops write at exit (server.err); 0: no such line. 1 is an
	 * even placement; 4 means one loop held four times another's. */
	double loop_ratio;
	/* What the server wrote to its standard output (server.log), bytes. */
	long long server_out_bytes;
};

/* The traits --list-models printed for model (enum el_trait; 0 for a
 * server by command). */
unsigned bench_model_traits(const struct bench_cfg *cfg, const char *model);
/* Whether model is one of cfg's models. */
bool bench_is_model(const struct bench_cfg *cfg, const char *model);
/* Whether model has trait. */
bool bench_has_trait(const struct bench_cfg *cfg, const char *model, enum el_trait trait);
/* The first of cfg's models that has every trait of traits, or NULL: a
 * mode that needs "a model with a process per connection" asks for it
 * so, never by name. */
const char *bench_model_with(const struct bench_cfg *cfg, unsigned traits);

/* The paired placement (placement.c): whether the load's loops are
 * pinned beside model's (cfg->pair, and a model with loops or a pool, or
 * a server by command); and the report's words for where server and load
 * run (cfg->placement), --lan's namespaces and delay included. */
bool bench_paired(const struct bench_cfg *cfg, const char *model);
void bench_describe_placement(struct bench_cfg *cfg, int delay_ms);

/* Runs one cell: the server (--quiet), the monitor every interval, the
 * load for warmup + duration; everything lands in cfg->dir/cell_dir.
 * open_rate > 0 runs the load open loop at that rate per connection. */
void bench_run_cell(const struct bench_cfg *cfg, struct bench_cell *c, double open_rate);

/* A stepped cell (the sweep): one server and one monitor, the load run at
 * a rate after another. next gives each step's rate (messages/s a
 * connection) from the last step's result (NULL before the first), <= 0
 * to stop; done receives each step's result and its window on the
 * monitor's clock. */
struct bench_stepper {
	double (*next)(void *arg, const struct el_load_result *last);
	void (*done)(void *arg, const struct el_load_result *r, double from_s, double to_s);
	void *arg;
};

/* Runs a stepped cell as bench_run_cell runs one: c->load is the last
 * step's result, c->ran whether any step ran. */
void bench_run_steps(const struct bench_cfg *cfg, struct bench_cell *c, const struct bench_stepper *steps);

/* The monitor's figures in a window of its CSV (seconds on its clock) into
 * c: CPU, PSS and RSS samples, process and thread counts. */
void bench_monitor_window(const char *csv, double from_s, double to_s, struct bench_cell *c);

/* Starts a server given by command (--server NAME=CMD): its placeholders
 * filled ({port} a free port of 127.0.0.1, {backlog}, {max_conns}), on
 * --cpus' server CPUs when pinned, ready when the port accepts. Returns 0
 * or -errno with the reason in why. */
int bench_server_start_cmd(const struct bench_cfg *cfg, const char *name, const char *tmpl, long backlog,
			   long max_conns, struct el_sup *s, const char *out_path, const char *err_path, char *why,
			   size_t whylen);
/* Starts echolab-server --model model --port 0 and the extra arguments
 * (NULL-terminated) in its own process group, its output to out_path
 * (NULL: /dev/null) and its error to err_path, and waits for its ready
 * line. Returns 0 or -errno with the reason in why. */
int bench_server_start_model(const struct bench_cfg *cfg, const char *model, struct el_sup *s,
			     const char *out_path, const char *err_path, const char *const *extra, char *why,
			     size_t whylen);

/* A cell is stable when every repeat's msgs/s lies within this many
 * percent of their median (docs/decisions.md 47). */
#define BENCH_STABLE_PCT 10.0
/* The smallest change a verdict names, in percent: two runs of one build
 * on a shared machine drift by a few percent (--compare's --min-change). */
#define BENCH_MIN_CHANGE_PCT 5.0

/* B's mean minus A's over their repeats, in percent of A's mean, with its
 * 95% confidence interval (Welch: unequal variances). known is false
 * with fewer than 2 repeats on a side or a zero mean for A. */
struct bench_change {
	double pct, lo, hi;
	bool known;
};
struct bench_change bench_welch(const struct el_stats *a, const struct el_stats *b);
/* 1 when the whole interval lies above +min_pct, -1 when below -min_pct,
 * 0 otherwise ("no difference the runs can show", or not known). */
int bench_change_beyond(const struct bench_change *c, double min_pct);

/* How n repeats' values agree: their median, range, the largest distance
 * from the median in percent, unstable when that is over
 * BENCH_STABLE_PCT; groups 2 when the values fall into two groups, each
 * stable within itself (low_n values around low_median, high_n around
 * high_median), else 1. */
struct bench_spread {
	int n;
	double median, min, max, worst_pct;
	bool unstable;
	int groups;
	int low_n, high_n;
	double low_median, high_median;
};
void bench_spread_of(const double *values, int n, struct bench_spread *s);

/* --compare DIR_A DIR_B: writes compare.md, the plot and prints a line per
 * cell into cfg->dir. A cell is slower or faster only when the 95%
 * interval of its change lies wholly beyond min_pct percent. Returns the
 * exit status: 1 when a slower cell's whole interval lies beyond fail_pct
 * percent, or a cell got no verdict, with fail_pct >= 0 (fail_pct < 0:
 * never); or when nothing could be compared. */
int bench_compare(const struct bench_cfg *cfg, const char *dir_a, const char *dir_b, double fail_pct,
		  double min_pct);

/* The models echolab-server lists, into cfg. Returns their number or -1. */
int bench_list_models(struct bench_cfg *cfg, char *why, size_t len);

/* summary.csv, report.md, report.html and the plots (gnuplot, when
 * installed; the report says so when it is not). Returns 0 or -1. */
int bench_report(const struct bench_cfg *cfg, struct bench_cell *cells, int ncells);

/* The sweep: steps of the open-loop rate for one model, the highest
 * messages/s whose p99 stays under the target. */
struct bench_step {
	double offered;      /* msgs/s offered, all connections */
	double achieved;     /* msgs/s measured */
	double p50, p99, max;
	uint64_t errors;
	double cpu;          /* the server's mean CPU %, -1: not sampled */
	bool ok;
};

int bench_sweep_report(const struct bench_cfg *cfg, const char *model, long clients,
		       double target_us, const struct bench_step *steps, int nsteps, int best);

/* Least-squares slope of column col of the monitor CSV of a cell, per
 * minute, over rows with from_s <= t_s <= to_s; also their mean and count.
 * Returns 0, or -1 with fewer than 3 rows. */
int bench_monitor_slope(const char *csv, int col, double from_s, double to_s, double *slope_per_min,
			double *mean, long *rows);

/* What every mode's report is made of (report_parts.c). */

/* A line for people: "3 CPUs, Linux 6.1.0, 24.0 GiB". */
void bench_machine(char *buf, size_t len);

/* cfg->dir/name opened for writing; NULL after saying why on stderr. */
FILE *bench_open_in(const struct bench_cfg *cfg, const char *name);

/* A plot written into a gnuplot script twice: name.svg for the HTML and
 * name.png beside it, body the plot's own commands. */
void bench_plot_both(FILE *f, const char *name, const char *body);

/* gnuplot on a script file; false (with a message) when it is missing or
 * fails. */
bool bench_gnuplot(const char *dir, const char *script);

/* An SVG plot (cfg->dir/name.svg) inlined in an HTML report, its PNG
 * linked below it. */
void bench_inline_svg(FILE *f, const struct bench_cfg *cfg, const char *name);

/* A report's head: for HTML the document up to <body> (title in <title>),
 * then for both the heading, the machine, when, and the exact command. */
void bench_report_head(FILE *f, bool html, const struct bench_cfg *cfg, const char *title, const char *heading);

/* The progress line of a running cell, on a terminal (the cfg->progress
 * of every mode): what runs, its time, p99, clients up, errors, time left. */
struct bench_progress {
	const struct bench_cfg *cfg;
	const struct bench_cell *cell;
	int index, total;
	double left_s; /* after this cell */
	bool tty;
};
void bench_show_progress(struct el_load *l, double elapsed, void *arg);
/* The line of a cell that ended: its figures, or why it did not run. */
void bench_cell_line(const struct bench_cfg *cfg, const struct bench_cell *c, int index, int total, double left);

/* The modes, each returning the program's exit status (130: interrupted).
 * The experiment: every model at every client count, --repeats times, and
 * the report. */
int bench_run_experiment(struct bench_cfg *cfg);
/* The sweep (sweep.c): the highest open-loop rate with p99 under target. */
int bench_run_sweep(struct bench_cfg *cfg, const char *model, long clients, double target, double start_rate);

/* Limits of the soak: growth per minute, fitted after the warm-up. */
struct soak_limits {
	double rss_kib_per_min; /* plus rss_frac_per_min of the mean RSS */
	double rss_frac_per_min;
	double fds_per_min;
	double settle_frac;     /* of the window, skipped before the fit */
};
/* The soak (soak.c): total_s over the models in turn; 1 on growth. */
int bench_run_soak(struct bench_cfg *cfg, double total_s, const struct soak_limits *lim);
/* --tools (tools.c), minimal the path of bench-minimal-client. */
int bench_run_tools(struct bench_cfg *cfg, const char *minimal);

#endif
