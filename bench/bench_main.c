/* echolab-bench: the seed experiment for every server model, the open-loop
 * sweep, and the benchmark of the tools themselves. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "backlog.h"
#include "bench.h"
#include "client.h"
#include "version.h"

#define usage_error(...) el_cli_usage("echolab-bench", __VA_ARGS__)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static const char usage[] =
	"usage: echolab-bench [--models LIST] [--clients LIST] [--duration S] [--warmup S]\n"
	"                     [--repeats R] [--interval S] [--size BYTES] [--threads T]\n"
	"                     [--spawn] [--raw] [--out DIR] [--server-bin PATH]\n"
	"                     [--server NAME=CMD]... [--cpus SERVER:LOAD] [--quick]\n"
	"                     [--workload closed|session:K] [--lan [--delay MS]]\n"
	"                     [--target HOST:PORT [--target-monitor CSV]] [--probe R]\n"
	"       echolab-bench --sweep --model M --p99-target US [--clients N]\n"
	"                     [--start-rate R] [--duration S] [--lan [--delay MS]]\n"
	"       echolab-bench --tools [--duration S]\n"
	"       echolab-bench --compare DIR_A DIR_B [--fail-if-slower PCT]\n"
	"                     [--min-change PCT] [--out DIR]\n"
	"       echolab-bench --soak [--models LIST] [--clients N] [--duration TOTAL]\n"
	"                     [--rss-slope KIB] [--fd-slope N]\n"
	"       echolab-bench --backlog-experiment [--models LIST] [--server NAME=CMD]...\n"
	"                     [--backlogs LIST] [--burst N] [--hold S]\n"
	"\n"
	"Runs the seed experiment for every server model: for each model and\n"
	"client count, starts echolab-server, samples its process tree, and runs\n"
	"the load (closed loop) for --duration after --warmup. Writes under\n"
	"DIR/<timestamp>/ (and a DIR/latest link): summary.csv, report.md,\n"
	"report.html, the plots (gnuplot), and every raw file.\n"
	"\n"
	"  --models LIST     comma-separated (default: every model of --list-models)\n"
	"  --clients LIST    client counts (default 30,100,300,500)\n"
	"  --duration S      measured seconds per cell (default 10; sweep 3)\n"
	"  --warmup S        seconds before each measurement (default 2)\n"
	"  --repeats R       runs of every cell, their spread reported (default 1)\n"
	"  --interval S      monitor sampling interval (default 0.5)\n"
	"  --size BYTES      message size (default 64)\n"
	"  --threads T       load event loops (default: one per CPU)\n"
	"  --spawn           one load process per client, as the seed's script\n"
	"  --target H:P      measure a server already running at HOST:PORT (another\n"
	"                    machine's): client-side figures only, reported as\n"
	"                    'target'; no server is started or monitored\n"
	"  --target-monitor CSV\n"
	"                    the target's CPU and memory from echolab-monitor --epoch\n"
	"                    run beside it (e.g. over ssh into CSV): each cell's\n"
	"                    rows by wall-clock time (the clocks kept in step)\n"
	"  --workload W      closed (default: each client one connection for the\n"
	"                    cell) or session:K (each client connects, sends K\n"
	"                    messages, closes, connects again: what a connection\n"
	"                    costs each model; the iterative one serves them too)\n"
	"  --probe R         one more connection in every cell, sending R msgs/s on\n"
	"                    its own fixed schedule through the window: the latency\n"
	"                    under load without the load's own queueing, in\n"
	"                    summary.csv (probe_*) and a plot of its own\n"
	"  --lan             two hosts on one machine: the server in one network\n"
	"                    namespace, the load in another, joined by a veth pair\n"
	"                    (10.77.0.1 and .2; needs root). The report says so\n"
	"  --delay MS        with --lan, one-way delay from load to server (netem,\n"
	"                    or an NFQUEUE consumer where the kernel has no netem)\n"
	"  --cpus S:L        pin the server (its whole tree) to CPU list S and the\n"
	"                    load to L (e.g. 0:1, 0-1:2-3); default: both share\n"
	"                    every CPU. The report says which\n"
	"  --raw             the servers echo bytes: echolab's models run with\n"
	"                    --raw, and a reply must be the message itself\n"
	"  --out DIR         results directory (default results)\n"
	"  --server-bin PATH echolab-server (default: beside this program)\n"
	"  --quick           smoke test: fork and thread, 10 and 30 clients, 1 s\n"
	"  --sweep           raise the open-loop rate until p99 passes --p99-target\n"
	"  --model M         the model of the sweep\n"
	"  --p99-target US   the sweep's p99 bound in microseconds\n"
	"  --start-rate R    the sweep's first total rate, msgs/s (default 2000)\n"
	"  --tools           measure the tools: echolab-load against a minimal\n"
	"                    closed-loop client, and the monitor's own CPU cost\n"
	"  --soak            the load (500 clients; iterative, which serves one at a\n"
	"                    time, 1) against each model in turn for\n"
	"                    --duration seconds in all (default 600), the monitor on;\n"
	"                    fails when RSS or the fd count grows (least-squares\n"
	"                    slope over the last 80% of each window), on any error\n"
	"                    or wrong reply, or when a server dies or stops uncleanly\n"
	"  --rss-slope KIB   the soak's RSS limit, KiB/min, plus 0.2% of the mean\n"
	"                    RSS per minute (default 512)\n"
	"  --fd-slope N      the soak's fd limit, fds/min (default 0.5)\n"
	"  --backlog-experiment\n"
	"                    the lab's Wireshark finding, captured: for each server,\n"
	"                    listen backlog and pattern (10 clients 0.1 s apart, or\n"
	"                    --burst at once), clients connect, send one message and\n"
	"                    hold; each run in a network namespace of its own (root),\n"
	"                    its traffic captured, analysed and drawn as a timeline\n"
	"  --server NAME=CMD a server started by CMD (as echolab-conform starts it:\n"
	"                    directly when plain, else by /bin/sh; placeholders\n"
	"                    {port}, {backlog}, {bind}, {max_line}, {max_conns},\n"
	"                    {idle_timeout}; {port} required, and {backlog} for\n"
	"                    the backlog experiment), its whole process tree\n"
	"                    monitored, reported as NAME beside the models; with\n"
	"                    --server and no --models only those servers run\n"
	"                    (repeatable; the experiment, --quick and the backlog\n"
	"                    experiment)\n"
	"  --compare A B     is B faster than A? Two results directories (or their\n"
	"                    latest links), each with 3 repeats or more of a cell:\n"
	"                    per model and client count, the change of mean msgs/s\n"
	"                    and p99 with its 95% confidence interval (Welch), and\n"
	"                    faster, slower, or no difference the runs can show;\n"
	"                    compare.md and a plot\n"
	"  --fail-if-slower PCT  with --compare: exit 1 when a cell is slower by more\n"
	"                    than PCT% (msgs/s down, or p99 up)\n"
	"  --min-change PCT  with --compare: the smallest change called slower or\n"
	"                    faster; the whole 95% interval must lie beyond it\n"
	"                    (default 5: same-build runs drift by a few percent)\n"
	"  --backlogs LIST   the backlog experiment's backlogs (default 1,8,128)\n"
	"  --burst N         clients of the burst (default 50)\n"
	"  --hold S          how long clients wait for their reply after the last\n"
	"                    one started (default 3)\n"
	"  --help            this text\n"
	"  --version         the version, and the git checkout it was built from\n"
	"\n"
	"Ctrl-C ends the running cell and writes the report of what was measured.\n"
	"Exit 0; 1 when a cell could not run (the soak: when a model failed); 2 on\n"
	"bad usage; 130 when interrupted.\n";


/* A CPU list (0, 0-1, 0,2-3) of CPUs this machine has, into set. */
static int parse_cpu_list(const char *s, cpu_set_t *set)
{
	CPU_ZERO(set);
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	char buf[128];
	if (!*s || strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		long lo = strtol(t, &end, 10), hi = lo;
		if (end == t)
			return -1;
		if (*end == '-') {
			char *e2;
			hi = strtol(end + 1, &e2, 10);
			if (e2 == end + 1)
				return -1;
			end = e2;
		}
		if (*end || lo < 0 || hi < lo || hi >= ncpu || hi >= CPU_SETSIZE)
			return -1;
		for (long c = lo; c <= hi; c++)
			CPU_SET((int)c, set);
	}
	return CPU_COUNT(set) > 0 ? 0 : -1;
}

/* Where the server and the load run, for the report: CPUs shared or
 * pinned (--cpus filled placement already), one host or --lan's two. */
static void describe_placement(struct bench_cfg *cfg, int delay_ms)
{
	if (!cfg->pinned)
		snprintf(cfg->placement, sizeof(cfg->placement), "shared (server and load on every CPU)");
	if (!cfg->lan)
		return;
	size_t n = strlen(cfg->placement);
	char delay[96] = "no added delay";
	if (delay_ms > 0)
		snprintf(delay, sizeof(delay), "%d ms one-way delay from load to server by %s", delay_ms,
			 cfg->lan->mechanism);
	snprintf(cfg->placement + n, sizeof(cfg->placement) - n,
		 "; over an emulated LAN: the server in one network namespace (" EL_LAN_SERVER_ADDR
		 "), the load in another (" EL_LAN_CLIENT_ADDR "), a veth pair between them, %s",
		 delay);
}

/* --cpus SERVER:LOAD. */
static int parse_cpus(const char *s, struct bench_cfg *cfg)
{
	const char *colon = strchr(s, ':');
	char server[128];
	if (!colon || (size_t)(colon - s) >= sizeof(server))
		return -1;
	snprintf(server, sizeof(server), "%.*s", (int)(colon - s), s);
	if (parse_cpu_list(server, &cfg->server_cpus) < 0 || parse_cpu_list(colon + 1, &cfg->load_cpus) < 0)
		return -1;
	cpu_set_t both;
	CPU_AND(&both, &cfg->server_cpus, &cfg->load_cpus);
	snprintf(cfg->placement, sizeof(cfg->placement), "server on CPUs %s, load on CPUs %s%s", server,
		 colon + 1, CPU_COUNT(&both) ? " (overlapping)" : "");
	cfg->pinned = true;
	return 0;
}

static int split_counts(const char *s, long *out, int max)
{
	int n = 0;
	char *copy = strdup(s), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		long v = strtol(t, &end, 10);
		if (*end || v < 1 || v > 20000 || n == max) {
			n = -1;
			break;
		}
		out[n++] = v;
	}
	free(copy);
	return n;
}

static int split_models(const char *s, struct bench_cfg *cfg)
{
	int n = 0;
	char *copy = strdup(s), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == BENCH_MAX_MODELS || strlen(t) >= sizeof(cfg->models[0])) {
			n = -1;
			break;
		}
		snprintf(cfg->models[n++], sizeof(cfg->models[0]), "%s", t);
	}
	free(copy);
	cfg->nmodels = n;
	return n;
}

static bool is_model(const struct bench_cfg *known, const char *m)
{
	for (int i = 0; i < known->nmodels; i++)
		if (strcmp(known->models[i], m) == 0)
			return true;
	return false;
}

/* DIR/<timestamp>, DIR/<timestamp>/cells and the DIR/latest link. */
static int make_dirs(struct bench_cfg *cfg, const char *out)
{
	if (mkdir(out, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "echolab-bench: cannot create %s: %s\n", out, strerror(errno));
		return -1;
	}
	time_t now = time(NULL);
	char stamp[32];
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", gmtime(&now));
	for (int i = 0;; i++) {
		if (i == 0)
			snprintf(cfg->dir, sizeof(cfg->dir), "%s/%s", out, stamp);
		else
			snprintf(cfg->dir, sizeof(cfg->dir), "%s/%s-%d", out, stamp, i);
		if (mkdir(cfg->dir, 0755) == 0)
			break;
		if (errno != EEXIST || i > 100) {
			fprintf(stderr, "echolab-bench: cannot create %s: %s\n", cfg->dir, strerror(errno));
			return -1;
		}
	}
	char cells[600], link[600];
	snprintf(cells, sizeof(cells), "%s/cells", cfg->dir);
	mkdir(cells, 0755);
	snprintf(link, sizeof(link), "%s/latest", out);
	unlink(link);
	if (symlink(strrchr(cfg->dir, '/') + 1, link) < 0)
		fprintf(stderr, "echolab-bench: cannot link %s: %s\n", link, strerror(errno));
	return 0;
}

struct progress {
	const struct bench_cfg *cfg;
	const struct bench_cell *cell;
	int index, total;
	double left_s; /* after this cell */
	bool tty;
};

static void show_progress(struct el_load *l, double elapsed, void *arg)
{
	struct progress *p = arg;
	if (!p->tty)
		return;
	static struct el_load_result r;
	el_load_result(l, &r, true);
	double cell = p->cfg->warmup_s + p->cfg->duration_s;
	double left = p->left_s + (cell - elapsed > 0 ? cell - elapsed : 0);
	fprintf(stderr, "\r[%d/%d] %s, %ld clients: %4.1f/%.1f s, p99 %.0f us, up %ld, errors %llu; "
			"%dm%02ds left   ",
		p->index, p->total, p->cell->model, p->cell->clients, elapsed, cell,
		el_hist_percentile_live(&r.hist, 99), r.up, (unsigned long long)r.errors_total,
		(int)left / 60, (int)left % 60);
	fflush(stderr);
}

static void cell_line(const struct bench_cfg *cfg, const struct bench_cell *c, int index, int total,
		      double left)
{
	if (!c->ran) {
		fprintf(stderr, "[%d/%d] %s, %ld clients: did not run: %s\n", index, total, c->model,
			c->clients, c->failure);
		return;
	}
	const struct el_load_result *r = &c->load;
	fprintf(stderr,
		"[%d/%d] %s, %ld clients: %.0f msg/s, RTT mean %.0f us p99 %.0f us, CPU %.0f%%, "
		"PSS %.1f MiB, errors %llu%s; %dm%02ds left\n",
		index, total, c->model, c->clients, r->window_s > 0 ? (double)r->messages / r->window_s : 0,
		r->hist.stats.mean, r->hist.total ? el_hist_percentile(&r->hist, 99) : 0, c->cpu.mean,
		c->pss_mib.mean, (unsigned long long)r->errors_total, c->short_run ? ", SHORT of its clients" : "",
		(int)left / 60, (int)left % 60);
	if (c->short_run)
		fprintf(stderr, "        %ld of %ld clients answered before the window", c->reached, c->clients);
	if (c->short_run && c->server_conns >= 0)
		fprintf(stderr, "; the server held %ld to %ld", c->server_conns_min, c->server_conns);
	if (c->short_run && bench_has_trait(bench_model_traits(cfg, c->model), "sequential"))
		fprintf(stderr, ": a sequential model serves one connection at a time, the others wait");
	if (c->short_run)
		fputc('\n', stderr);
	if (c->monitor_gap_s > 1.0)
		fprintf(stderr, "        the monitor's samples were %.1f s apart once (see monitor.err)\n",
			c->monitor_gap_s);
	if (!r->valid) {
		fprintf(stderr, "        INVALID, the load generator shaped this cell:");
		for (int i = 0; i < r->nreasons; i++)
			fprintf(stderr, "%s %s", i ? ";" : "", r->reasons[i]);
		fputc('\n', stderr);
	}
}

static int run_experiment(struct bench_cfg *cfg)
{
	int total = cfg->nmodels * cfg->ncounts * cfg->repeats;
	struct bench_cell *cells = calloc((size_t)total, sizeof(*cells));
	if (!cells) {
		fprintf(stderr, "echolab-bench: out of memory\n");
		return 1;
	}
	struct progress p = {.cfg = cfg, .total = total, .tty = isatty(2)};
	cfg->progress = show_progress;
	cfg->progress_arg = &p;
	double est = total * (cfg->warmup_s + cfg->duration_s + 1.0);
	fprintf(stderr, "echolab-bench: %d models x %d client counts x %d repeat%s, %.1f s each: about "
			"%dm%02ds; writing %s\n",
		cfg->nmodels, cfg->ncounts, cfg->repeats, cfg->repeats == 1 ? "" : "s",
		cfg->warmup_s + cfg->duration_s, (int)est / 60, (int)est % 60, cfg->dir);
	int ran = 0, failed = 0;
	/* Repeats go round the whole grid, so a slow drift of the machine
	 * spreads over every cell instead of landing on one. */
	for (int rep = 0; rep < cfg->repeats && !stop; rep++) {
		for (int m = 0; m < cfg->nmodels && !stop; m++) {
			for (int k = 0; k < cfg->ncounts && !stop; k++) {
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
				cell_line(cfg, c, ran + 1, total, p.left_s);
				failed += !c->ran;
				ran++;
			}
		}
	}
	int rc = bench_report(cfg, cells, ran);
	free(cells);
	char abs[PATH_MAX];
	fprintf(stderr, "%s%s\n", stop ? "echolab-bench: interrupted; the report has what was measured: " : "report: ",
		realpath(cfg->dir, abs) ? abs : cfg->dir);
	printf("%s/report.md\n", cfg->dir);
	if (stop)
		return 130;
	return rc < 0 || failed ? 1 : 0;
}

/* The sweep's steps, chosen as they finish: double the rate until a step
 * is over the target, then halve the gap between the best under it and
 * the lowest over it until they are within 5%. */
struct sweep {
	struct progress *p;
	long clients;
	double target, start_rate, rate, lo, hi;
	struct bench_step steps[40];
	double from_s[40], to_s[40];
	int n, best;
};

static void sweep_done(void *arg, const struct el_load_result *r, double from_s, double to_s)
{
	struct sweep *w = arg;
	if (w->p->tty)
		fprintf(stderr, "\r\033[K");
	struct bench_step *s = &w->steps[w->n];
	w->from_s[w->n] = from_s;
	w->to_s[w->n] = to_s;
	w->n++;
	s->offered = w->rate;
	s->achieved = r->window_s > 0 ? (double)r->messages / r->window_s : 0;
	s->p50 = r->hist.total ? el_hist_percentile(&r->hist, 50) : 0;
	s->p99 = r->hist.total ? el_hist_percentile(&r->hist, 99) : 0;
	s->max = r->hist.total ? r->hist.stats.max : 0;
	s->errors = r->errors_total;
	/* A step the generator shaped (it fell behind its schedule) says
	 * nothing of the server: never under target. */
	s->ok = r->hist.total && s->p99 < w->target && !s->errors && s->achieved >= 0.95 * w->rate && r->valid;
	fprintf(stderr, "sweep %2d: offered %8.0f msg/s, achieved %8.0f, p99 %7.0f us: %s%s%s\n", w->n, s->offered,
		s->achieved, s->p99, s->ok ? "under target" : "over", r->valid ? "" : "; invalid: ",
		r->valid ? "" : r->reasons[0]);
	if (s->ok && (w->best < 0 || s->offered > w->steps[w->best].offered))
		w->best = w->n - 1;
	if (s->ok)
		w->lo = w->rate;
	else
		w->hi = w->rate;
}

static double sweep_next(void *arg, const struct el_load_result *last)
{
	struct sweep *w = arg;
	if (last) {
		if (w->n == 40)
			return 0;
		if (w->hi == 0)
			w->rate *= 2;
		else if (w->lo == 0 && w->rate <= w->start_rate / 64)
			return 0; /* even a trickle is over the target */
		else if (w->lo == 0)
			w->rate /= 2;
		else if (w->hi - w->lo > w->lo * 0.05)
			w->rate = (w->lo + w->hi) / 2;
		else
			return 0;
	}
	w->p->index = w->p->total = w->n + 1;
	return w->rate / (double)w->clients;
}

/* The sweep: one server, monitored through every step, and the load run
 * at each rate in turn as echolab-load --rate-steps runs its rates. */
static int run_sweep(struct bench_cfg *cfg, const char *model, long clients, double target,
		     double start_rate)
{
	struct progress p = {.cfg = cfg, .tty = isatty(2)};
	cfg->progress = show_progress;
	cfg->progress_arg = &p;
	static struct sweep w;
	w = (struct sweep){.p = &p, .clients = clients, .target = target, .start_rate = start_rate,
			   .rate = start_rate, .best = -1};
	static struct bench_cell c;
	memset(&c, 0, sizeof(c));
	snprintf(c.model, sizeof(c.model), "%s", model);
	c.clients = clients;
	snprintf(c.cell_dir, sizeof(c.cell_dir), "cells/sweep");
	p.cell = &c;
	struct bench_stepper st = {.next = sweep_next, .done = sweep_done, .arg = &w};
	bench_run_steps(cfg, &c, &st);
	if (p.tty)
		fprintf(stderr, "\r\033[K");
	if (c.failure[0])
		fprintf(stderr, "echolab-bench: sweep step at %.0f msgs/s did not run: %s\n", w.rate, c.failure);
	/* Each step's server CPU from the one monitor's CSV. */
	char csv[800];
	snprintf(csv, sizeof(csv), "%s/%s/monitor.csv", cfg->dir, c.cell_dir);
	for (int i = 0; i < w.n; i++) {
		static struct bench_cell m;
		memset(&m, 0, sizeof(m));
		el_stats_init(&m.cpu);
		el_stats_init(&m.pss_mib);
		el_stats_init(&m.rss_mib);
		m.min_procs = m.min_threads = -1;
		bench_monitor_window(csv, w.from_s[i], w.to_s[i], &m);
		w.steps[i].cpu = m.cpu.n ? m.cpu.mean : -1;
	}
	struct bench_step *steps = w.steps;
	int n = w.n, best = w.best;
	int rc = bench_sweep_report(cfg, model, clients, target, steps, n, best);
	if (best >= 0)
		printf("highest rate under p99 %.0f us: %.0f msgs/s (p99 %.0f us)\n", target,
		       steps[best].offered, steps[best].p99);
	else
		printf("no rate kept p99 under %.0f us\n", target);
	printf("%s/report.md\n", cfg->dir);
	return stop ? 130 : rc < 0 ? 1 : 0;
}

/* --- the soak --------------------------------------------------------- */

/* Limits of the soak: growth per minute, fitted after the warm-up. */
struct soak_limits {
	double rss_kib_per_min; /* plus rss_frac_per_min of the mean RSS */
	double rss_frac_per_min;
	double fds_per_min;
	double settle_frac;     /* of the window, skipped before the fit */
};

/* The monitor CSV's columns (docs/interface.md). */
enum { COL_RSS_KIB = 5, COL_FDS = 7 };

static int run_soak(struct bench_cfg *cfg, double total_s, const struct soak_limits *lim)
{
	static struct bench_cell cells[BENCH_MAX_MODELS];
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
	struct progress p = {.cfg = cfg, .total = n, .tty = isatty(2)};
	cfg->progress = show_progress;
	cfg->progress_arg = &p;
	fprintf(stderr, "echolab-bench: soak, %d models x %ld clients, %.0f s each (%.0f s warm-up): "
			"about %dm%02ds; writing %s\n",
		n, clients, per, cfg->warmup_s, (int)(n * (per + 1)) / 60, (int)(n * (per + 1)) % 60, cfg->dir);
	struct soak_row {
		double rss_slope, rss_mean, fd_slope, fd_mean, rss_limit;
		long rows;
		bool ok;
		char why[160];
	} rows[BENCH_MAX_MODELS] = {0};
	int ran = 0, failed = 0;
	for (int m = 0; m < n && !stop; m++) {
		struct bench_cell *c = &cells[m];
		snprintf(c->model, sizeof(c->model), "%s", cfg->models[m]);
		/* iterative serves one client at a time: the other 499 would only
		 * time out in its accept queue, by design. Its soak is one client
		 * (docs/decisions.md). */
		c->clients = strcmp(c->model, "iterative") == 0 ? 1 : clients;
		snprintf(c->cell_dir, sizeof(c->cell_dir), "cells/soak-%.31s-%ld", cfg->models[m], c->clients);
		p.cell = c;
		p.index = m + 1;
		p.left_s = (n - m - 1) * (per + 1);
		bench_run_cell(cfg, c, 0);
		if (p.tty)
			fprintf(stderr, "\r\033[K");
		cell_line(cfg, c, m + 1, n, p.left_s);
		ran++;
		struct soak_row *r = &rows[m];
		r->ok = true;
		char csv[800];
		snprintf(csv, sizeof(csv), "%s/%s/monitor.csv", cfg->dir, c->cell_dir);
		/* The fit starts after the load's warm-up and a share of the
		 * window, where allocators and caches reach their working size. */
		double from = c->from_s + (c->to_s - c->from_s) * lim->settle_frac;
		if (!c->ran) {
			snprintf(r->why, sizeof(r->why), "did not run: %.120s", c->failure);
			r->ok = false;
		} else if (bench_monitor_slope(csv, COL_RSS_KIB, from, c->to_s, &r->rss_slope, &r->rss_mean,
					       &r->rows) < 0 ||
			   bench_monitor_slope(csv, COL_FDS, from, c->to_s, &r->fd_slope, &r->fd_mean,
					       &r->rows) < 0) {
			snprintf(r->why, sizeof(r->why), "too few monitor samples to fit");
			r->ok = false;
		} else {
			r->rss_limit = lim->rss_kib_per_min + lim->rss_frac_per_min * r->rss_mean;
			const struct el_load_result *l = &c->load;
			if (c->server_died)
				snprintf(r->why, sizeof(r->why), "the server died (status %d)", c->server_exit);
			else if (c->server_exit != 0)
				snprintf(r->why, sizeof(r->why), "the server did not stop cleanly (status %d)",
					 c->server_exit);
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
			r->ok = r->why[0] == 0;
		}
		failed += !r->ok;
	}

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
		if (stop)
			fprintf(f, "\nInterrupted: %d of %d models ran.\n", ran, n);
		fflush(f);
	}
	if (md)
		fclose(md);
	char abs[PATH_MAX];
	fprintf(stderr, "soak: %d of %d models passed; %s/soak.md\n", ran - failed, n,
		realpath(cfg->dir, abs) ? abs : cfg->dir);
	return stop ? 130 : failed ? 1 : 0;
}

/* --- the tools' own performance -------------------------------------- */

static double run_minimal(const char *path, unsigned port, long conns, double seconds)
{
	char cmd[PATH_MAX + 128];
	snprintf(cmd, sizeof(cmd), "'%s' %u %ld %.3f", path, port, conns, seconds);
	FILE *f = popen(cmd, "r");
	if (!f)
		return -1;
	double rate = -1;
	char line[256];
	while (fgets(line, sizeof(line), f))
		sscanf(line, "msgs_per_s=%lf", &rate);
	pclose(f);
	return rate;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int run_tools(struct bench_cfg *cfg, const char *minimal)
{
	/* 1. Messages/s of echolab-load and of the minimal client, alternated
	 *    against one server per pair, 100 connections. */
	enum { ROUNDS = 5 };
	double load1[ROUNDS], loadn[ROUNDS], mini[ROUNDS];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int saved_threads = cfg->threads;
	double seconds = cfg->duration_s;
	cfg->warmup_s = 0.5;
	FILE *md = NULL;
	char path[800];
	static struct bench_cell c;
	fprintf(stderr, "tools: echolab-load vs a minimal closed-loop client, 100 connections, epoll "
			"server, %d rounds of %.1f s each\n",
		ROUNDS, seconds);
	for (int i = 0; i < ROUNDS && !stop; i++) {
		/* The minimal client against its own fresh server. */
		memset(&c, 0, sizeof(c));
		snprintf(c.model, sizeof(c.model), "epoll");
		c.clients = 100;
		for (int v = 0; v < 3 && !stop; v++) {
			snprintf(c.cell_dir, sizeof(c.cell_dir), "cells/tools-%d-%s", i + 1,
				 v == 0 ? "load-1loop" : v == 1 ? "load-default" : "minimal");
			if (v < 2) {
				cfg->threads = v == 0 ? 1 : saved_threads;
				bench_run_cell(cfg, &c, 0);
				double r = c.ran && c.load.window_s > 0 ? (double)c.load.messages / c.load.window_s : -1;
				if (v == 0)
					load1[i] = r;
				else
					loadn[i] = r;
				continue;
			}
			/* The minimal client needs a server of its own: a cell with
			 * 1 client that idles, as a way to hold one up. */
			char dir[700];
			snprintf(dir, sizeof(dir), "%s/%s", cfg->dir, c.cell_dir);
			mkdir(dir, 0755);
			snprintf(path, sizeof(path), "%s/server.err", dir);
			static const char *const extra[] = {"--quiet", "--backlog", "1024", NULL};
			struct el_sup sv;
			char why[256];
			bool up = bench_server_start_model(cfg, "epoll", &sv, NULL, path, extra, why, sizeof(why)) == 0;
			if (!up)
				fprintf(stderr, "tools: %s\n", why);
			mini[i] = up ? run_minimal(minimal, sv.port, 100, seconds) : -1;
			if (up)
				el_sup_stop(&sv, SIGTERM, false, 5000, NULL);
		}
		fprintf(stderr, "round %d: echolab-load 1 loop %.0f msg/s, %ld loops %.0f msg/s, minimal %.0f msg/s\n",
			i + 1, load1[i], saved_threads ? (long)saved_threads : cpus, loadn[i], mini[i]);
	}
	cfg->threads = saved_threads;

	/* 2. The monitor's cost on a 500-process tree: a fork server holding
	 *    500 idle connections, sampled every 0.5 s, own CPU time counted. */
	fprintf(stderr, "tools: the monitor's CPU on a fork server with 500 connections (501 processes)\n");
	double cost[2] = {-1, -1};
	long tree_procs = 0;
	snprintf(path, sizeof(path), "%s/monitor-server.err", cfg->dir);
	static const char *const fork_extra[] = {"--quiet", "--backlog", "1024", "--max-conns", "600", NULL};
	struct el_sup tree;
	char why[256];
	unsigned port = 0;
	if (bench_server_start_model(cfg, "fork", &tree, NULL, path, fork_extra, why, sizeof(why)) == 0)
		port = tree.port;
	else
		fprintf(stderr, "tools: %s\n", why);
	pid_t pid = tree.pid;
	int fds[500];
	int nfds = 0;
	for (int i = 0; port && i < 500; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			if (fd >= 0)
				close(fd);
			break;
		}
		fds[nfds++] = fd;
	}
	sleep(1); /* every child forked */
	/* The monitor as users run it, a process of its own, its CPU taken
	 * from wait4: with its default budget, and with none (every detail of
	 * every process in every sample). */
	static const char *const budgets[2] = {NULL, "0"};
	const double monitor_s = 30;
	char staleness[2][512] = {"", ""};
	for (int b = 0; b < 2 && port && !stop; b++) {
		char pidarg[16], dur[32], csv[PATH_MAX], err[PATH_MAX];
		snprintf(pidarg, sizeof(pidarg), "%d", (int)pid);
		snprintf(dur, sizeof(dur), "%g", monitor_s);
		snprintf(csv, sizeof(csv), "%s/monitor-tools-%s.csv", cfg->dir, b ? "nobudget" : "default");
		snprintf(err, sizeof(err), "%s/monitor-tools-%s.err", cfg->dir, b ? "nobudget" : "default");
		pid_t mon = fork();
		if (mon == 0) {
			if (!freopen(err, "w", stderr))
				_exit(127);
			const char *argv[] = {cfg->monitor, "--pid", pidarg, "--duration", dur, "--out", csv,
					      budgets[b] ? "--budget" : NULL, budgets[b], NULL};
			execv(cfg->monitor, (char *const *)argv);
			_exit(127);
		}
		struct rusage ru;
		int status = 0;
		if (mon < 0 || wait4(mon, &status, 0, &ru) != mon || !WIFEXITED(status) || WEXITSTATUS(status))
			break;
		double used = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		cost[b] = 100.0 * used / monitor_s;
		FILE *f = fopen(csv, "r");
		char line[1024];
		while (f && fgets(line, sizeof(line), f))
			if (isdigit((unsigned char)line[0]))
				tree_procs = atol(strchr(line, ',') + 1);
		if (f)
			fclose(f);
		if ((f = fopen(err, "r"))) {
			if (fgets(staleness[b], sizeof(staleness[b]), f))
				staleness[b][strcspn(staleness[b], "\n")] = 0;
			fclose(f);
		}
		fprintf(stderr, "monitor, %s: %.3f%% of one CPU over %.0f s of %ld processes\n",
			b ? "--budget 0" : "default budget", cost[b], monitor_s, tree_procs);
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (port)
		el_sup_stop(&tree, SIGTERM, false, 5000, NULL);

	qsort(load1, ROUNDS, sizeof(double), cmp_double);
	qsort(loadn, ROUNDS, sizeof(double), cmp_double);
	qsort(mini, ROUNDS, sizeof(double), cmp_double);
	double m1 = load1[ROUNDS / 2], mn = loadn[ROUNDS / 2], mm = mini[ROUNDS / 2];
	snprintf(path, sizeof(path), "%s/tools.md", cfg->dir);
	md = fopen(path, "w");
	char machine[512];
	bench_machine(machine, sizeof(machine));
	FILE *outs[2] = {stdout, md};
	for (int o = 0; o < 2; o++) {
		FILE *f = outs[o];
		if (!f)
			continue;
		fprintf(f, "# echolab tools benchmark\n\nMachine: %s.\n\nCommand: `%s`\n\n", machine, cfg->command);
		fprintf(f, "## echolab-load against a minimal closed-loop client\n\n"
			   "100 connections, 64-byte messages, one in flight each, epoll server, %d alternating "
			   "rounds of %.1f s; medians.\n\n",
			ROUNDS, seconds);
		fprintf(f, "| client | msgs/s (median) | ratio to minimal |\n|---|---|---|\n");
		fprintf(f, "| minimal (1 epoll loop, no checks, no timing) | %.0f | 1.000 |\n", mm);
		fprintf(f, "| echolab-load --threads 1 | %.0f | %.3f |\n", m1, mm > 0 ? m1 / mm : 0);
		fprintf(f, "| echolab-load (default threads) | %.0f | %.3f |\n\n", mn, mm > 0 ? mn / mm : 0);
		fprintf(f, "Target: echolab-load at least 0.95 of the minimal client: %s.\n\n",
			mm > 0 && (m1 >= 0.95 * mm || mn >= 0.95 * mm) ? "met" : "NOT met");
		fprintf(f, "## The monitor's own CPU\n\necholab-monitor on a fork server holding %d connections "
			   "(%ld processes), every 0.5 s for %.0f s, its CPU from wait4 (start-up and the first "
			   "sample, which reads every process, included).\n\n"
			   "| monitor | CPU, %% of one CPU | what it said |\n|---|---|---|\n"
			   "| default (`--budget 0.7`) | %.3f | %s |\n| `--budget 0` (every detail, every sample) | %.3f | %s |\n\n"
			   "Target: under 1%% with the default: %s.\n",
			nfds, tree_procs, monitor_s, cost[0], staleness[0][0] ? staleness[0] : "-", cost[1],
			staleness[1][0] ? staleness[1] : "-", cost[0] >= 0 && cost[0] < 1.0 ? "met" : "NOT met");
	}
	if (md)
		fclose(md);
	return stop ? 130 : 0;
}

int main(int argc, char **argv)
{
	static struct bench_cfg cfg = {
		.repeats = 1,
		.duration_s = 10,
		.warmup_s = 2,
		.interval_s = 0.5,
		.msg_size = 64,
		.stop = &stop,
	};
	const char *models = NULL, *clients = NULL, *out = "results", *sweep_model = NULL;
	bool quick = false, sweep = false, tools = false, soak = false, duration_set = false;
	struct soak_limits lim = {.rss_kib_per_min = 512, .rss_frac_per_min = 0.002,
				  .fds_per_min = 0.5, .settle_frac = 0.2};
	double target = 0, start_rate = 2000, delay_ms = -1;
	bool lan = false, compare = false;
	double fail_pct = -1, min_pct = -1;
	bool backlog_exp = false;
	static struct bl_opts bl = {.backlogs = {1, 8, 128}, .nbacklogs = 3, .one_by_one = 10,
				    .gap_s = 0.1, .burst = 50, .hold_s = 3};
	static const struct option opts[] = {
		{"models", required_argument, NULL, 'm'}, {"clients", required_argument, NULL, 'c'},
		{"duration", required_argument, NULL, 'd'}, {"warmup", required_argument, NULL, 'w'},
		{"repeats", required_argument, NULL, 'r'}, {"interval", required_argument, NULL, 'i'},
		{"size", required_argument, NULL, 's'}, {"threads", required_argument, NULL, 't'},
		{"spawn", no_argument, NULL, 'S'}, {"out", required_argument, NULL, 'o'},
		{"server", required_argument, NULL, 'x'}, {"quick", no_argument, NULL, 'q'},
		{"sweep", no_argument, NULL, 'W'}, {"model", required_argument, NULL, 'M'},
		{"p99-target", required_argument, NULL, 'p'}, {"start-rate", required_argument, NULL, 'R'},
		{"tools", no_argument, NULL, 'T'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'v'},
		{"soak", no_argument, NULL, 'K'}, {"rss-slope", required_argument, NULL, 'L'},
		{"fd-slope", required_argument, NULL, 'F'},
		{"backlog-experiment", no_argument, NULL, 'B'}, {"backlogs", required_argument, NULL, 'b'},
		{"burst", required_argument, NULL, 'u'}, {"hold", required_argument, NULL, 'H'},
		{"server-bin", required_argument, NULL, 'X'}, {"raw", no_argument, NULL, 'A'},
		{"cpus", required_argument, NULL, 'P'}, {"target", required_argument, NULL, 'g'},
		{"target-monitor", required_argument, NULL, 'G'}, {"lan", no_argument, NULL, 'N'},
		{"delay", required_argument, NULL, 'D'}, {"workload", required_argument, NULL, 0x110},
		{"compare", no_argument, NULL, 0x111}, {"fail-if-slower", required_argument, NULL, 0x112},
		{"probe", required_argument, NULL, 0x113}, {"min-change", required_argument, NULL, 0x114}, {0},
	};
	int len = 0;
	for (int i = 0; i < argc && len < (int)sizeof(cfg.command) - 2; i++)
		len += snprintf(cfg.command + len, sizeof(cfg.command) - (size_t)len, "%s%s", i ? " " : "", argv[i]);
	opterr = 0;
	int ch;
	double v;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'm': models = optarg; break;
		case 'c': clients = optarg; break;
		case 'd':
			if (!el_cli_parse_num(optarg, 0.1, 86400, &cfg.duration_s))
				return usage_error("bad --duration '%s'", optarg);
			duration_set = true;
			break;
		case 'w':
			if (!el_cli_parse_num(optarg, 0, 600, &cfg.warmup_s))
				return usage_error("bad --warmup '%s'", optarg);
			break;
		case 'r':
			if (!el_cli_parse_num(optarg, 1, BENCH_MAX_REPEATS, &v) || v != floor(v))
				return usage_error("bad --repeats '%s' (1 to %d)", optarg, BENCH_MAX_REPEATS);
			cfg.repeats = (int)v;
			break;
		case 'i':
			if (!el_cli_parse_num(optarg, 0.05, 60, &cfg.interval_s))
				return usage_error("bad --interval '%s'", optarg);
			break;
		case 's':
			if (!el_cli_parse_num(optarg, 1, 65536, &v) || v != floor(v))
				return usage_error("bad --size '%s' (1 to 65536)", optarg);
			cfg.msg_size = (size_t)v;
			break;
		case 't':
			if (!el_cli_parse_num(optarg, 1, 256, &v) || v != floor(v))
				return usage_error("bad --threads '%s'", optarg);
			cfg.threads = (int)v;
			break;
		case 'S': cfg.spawn = true; break;
		case 'A': cfg.raw = true; break;
		case 'g': {
			const char *colon = strrchr(optarg, ':');
			double port;
			snprintf(cfg.target_text, sizeof(cfg.target_text), "%s", optarg);
			if (!colon || colon == optarg || !el_cli_parse_num(colon + 1, 1, 65535, &port) || port != floor(port) ||
			    (size_t)(colon - optarg) >= sizeof(cfg.target_text))
				return usage_error("bad --target '%s' (HOST:PORT; an IPv6 address in brackets)", optarg);
			cfg.target_text[colon - optarg] = 0;
			char *host = cfg.target_text;
			size_t hl = strlen(host);
			if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
				host[hl - 1] = 0;
				host++;
			}
			cfg.target_host = host;
			cfg.target_port = (unsigned)port;
			break;
		}
		case 'P':
			if (parse_cpus(optarg, &cfg) < 0)
				return usage_error("bad --cpus '%s' (SERVER:LOAD, each a CPU list such as 0, 0-1 "
						   "or 0,2, of this machine's CPUs)", optarg);
			break;
		case 'G': cfg.target_monitor = optarg; break;
		case 0x111: compare = true; break;
		case 0x114:
			if (!el_cli_parse_num(optarg, 0, 1000, &min_pct))
				return usage_error("bad --min-change '%s' (percent)", optarg);
			break;
		case 0x113:
			if (!el_cli_parse_num(optarg, 0.1, 1e5, &cfg.probe_rate))
				return usage_error("bad --probe '%s' (messages/s)", optarg);
			break;
		case 0x112:
			if (!el_cli_parse_num(optarg, 0, 1e6, &fail_pct))
				return usage_error("bad --fail-if-slower '%s' (percent)", optarg);
			break;
		case 0x110:
			if (strcmp(optarg, "closed") == 0) {
				cfg.session = 0;
			} else if (strncmp(optarg, "session:", 8) != 0 || !el_cli_parse_num(optarg + 8, 1, 1e9, &v) ||
				   v != floor(v)) {
				return usage_error("bad --workload '%s' (closed, or session:K with K messages a "
						   "connection)", optarg);
			} else {
				cfg.session = (long)v;
			}
			break;
		case 'N': lan = true; break;
		case 'D':
			if (!el_cli_parse_num(optarg, 0, 10000, &delay_ms) || delay_ms != floor(delay_ms))
				return usage_error("bad --delay '%s' (whole milliseconds, 0 to 10000)", optarg);
			break;
		case 'o': out = optarg; break;
		case 'X': cfg.server = optarg; break;
		case 'x': {
			const char *eq = strchr(optarg, '=');
			if (!eq)
				return usage_error("--server takes NAME=CMD (the echolab-server binary is "
						   "--server-bin PATH): '%s'", optarg);
			if (eq == optarg || (size_t)(eq - optarg) >= sizeof(bl.servers[0].name) || !eq[1] ||
			    strlen(eq + 1) >= sizeof(bl.servers[0].cmd) || bl.nservers == BL_MAX_SERVERS)
				return usage_error("bad --server '%s' (NAME=CMD, NAME up to 31 characters, "
						   "at most %d servers)", optarg, BL_MAX_SERVERS);
			if (strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
			    (size_t)(eq - optarg))
				return usage_error("--server %.*s: NAME is letters, digits, '_', '.' and '-' (it "
						   "names files)", (int)(eq - optarg), optarg);
			struct bl_server *sv = &bl.servers[bl.nservers++];
			snprintf(sv->name, sizeof(sv->name), "%.*s", (int)(eq - optarg), optarg);
			snprintf(sv->cmd, sizeof(sv->cmd), "%s", eq + 1);
			if (!el_sup_has(sv->cmd, "port"))
				return usage_error("--server %s: CMD needs {port}", sv->name);
			struct el_sup_settings probe = {.port = 1};
			char expanded[2048], bad[64];
			if (el_sup_expand(sv->cmd, &probe, expanded, sizeof(expanded), bad, sizeof(bad)) == -EINVAL)
				return usage_error("--server %s: bad placeholder %s", sv->name, bad);
			break;
		}
		case 'B': backlog_exp = true; break;
		case 'b':
			if (bl_parse_backlogs(optarg, &bl) < 0)
				return usage_error("bad --backlogs '%s' (0 to 65535 each, at most %d)", optarg,
						   BL_MAX_BACKLOGS);
			break;
		case 'u':
			if (!el_cli_parse_num(optarg, 1, 1000, &v) || v != floor(v))
				return usage_error("bad --burst '%s' (1 to 1000)", optarg);
			bl.burst = (int)v;
			break;
		case 'H':
			if (!el_cli_parse_num(optarg, 0.1, 600, &bl.hold_s))
				return usage_error("bad --hold '%s' (seconds)", optarg);
			break;
		case 'q': quick = true; break;
		case 'W': sweep = true; break;
		case 'M': sweep_model = optarg; break;
		case 'p':
			if (!el_cli_parse_num(optarg, 1, 1e9, &target))
				return usage_error("bad --p99-target '%s' (microseconds)", optarg);
			break;
		case 'R':
			if (!el_cli_parse_num(optarg, 1, 1e9, &start_rate))
				return usage_error("bad --start-rate '%s'", optarg);
			break;
		case 'T': tools = true; break;
		case 'K': soak = true; break;
		case 'L':
			if (!el_cli_parse_num(optarg, 0, 1e9, &lim.rss_kib_per_min))
				return usage_error("bad --rss-slope '%s' (KiB per minute)", optarg);
			break;
		case 'F':
			if (!el_cli_parse_num(optarg, 0, 1e9, &lim.fds_per_min))
				return usage_error("bad --fd-slope '%s' (fds per minute)", optarg);
			break;
		case 'h': fputs(usage, stdout); return 0;
		case 'v': el_version_print("echolab-bench"); return 0;
		default: return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (fail_pct >= 0 && !compare)
		return usage_error("%s", "--fail-if-slower goes with --compare");
	if (min_pct >= 0 && !compare)
		return usage_error("%s", "--min-change goes with --compare");
	if (compare) {
		if (argc - optind != 2)
			return usage_error("%s", "--compare takes two results directories: DIR_A DIR_B");
		if (make_dirs(&cfg, out) < 0)
			return 1;
		snprintf(cfg.command, sizeof(cfg.command), "echolab-bench --compare %s %s", argv[optind],
			 argv[optind + 1]);
		return bench_compare(&cfg, argv[optind], argv[optind + 1], fail_pct, min_pct >= 0 ? min_pct : 5);
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (sweep + tools + quick + soak + backlog_exp > 1)
		return usage_error("%s", "--sweep, --tools, --soak, --backlog-experiment and --quick exclude each other");
	if (bl.nservers && (sweep || tools || soak))
		return usage_error("%s", "--server NAME=CMD is for the experiment, --quick and "
					 "--backlog-experiment; the echolab-server binary is --server-bin PATH");
	if (cfg.target_host && (sweep || tools || soak || backlog_exp || quick || models || bl.nservers || cfg.pinned))
		return usage_error("%s", "--target measures one running server in the experiment: no --models, "
					 "--server, --cpus, --quick or other mode with it");
	if (cfg.session > 0 && (tools || soak || backlog_exp))
		return usage_error("%s", "--workload is for the experiment, --quick and --sweep");
	if (cfg.session > 0 && sweep)
		return usage_error("%s", "--workload session:K is the closed loop's; the sweep is open loop");
	if (cfg.probe_rate > 0 && (sweep || tools || soak || backlog_exp))
		return usage_error("%s", "--probe is for the experiment and --quick");
	if (cfg.target_monitor && !cfg.target_host)
		return usage_error("%s", "--target-monitor goes with --target");
	if (delay_ms >= 0 && !lan)
		return usage_error("%s", "--delay is the emulated LAN's: it needs --lan");
	if (lan && (tools || soak || backlog_exp || cfg.target_host))
		return usage_error("%s", "--lan is for the experiment, --quick and --sweep (the backlog "
					 "experiment makes namespaces of its own)");
	if (cfg.raw && (sweep || tools || soak || backlog_exp))
		return usage_error("%s", "--raw is for the experiment and --quick");
	for (int i = 0; i < bl.nservers && backlog_exp; i++)
		if (!el_sup_has(bl.servers[i].cmd, "backlog"))
			return usage_error("--server %s: the backlog experiment needs {backlog} in CMD", bl.servers[i].name);
	if (sweep && (!sweep_model || target <= 0))
		return usage_error("%s", "--sweep needs --model M and --p99-target US");
	if (!sweep && sweep_model)
		return usage_error("%s", "--model is for --sweep; the experiment takes --models");

	char self[PATH_MAX], server[PATH_MAX + 32], minimal[PATH_MAX + 64], monitor[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(server, sizeof(server), "%s/echolab-server", self);
	/* Beside this program in a build tree; installed, in libexec. */
	snprintf(minimal, sizeof(minimal), "%s/bench-minimal-client", self);
	if (access(minimal, X_OK) < 0)
		snprintf(minimal, sizeof(minimal), "%s/../libexec/echolab/bench-minimal-client", self);
	snprintf(monitor, sizeof(monitor), "%s/echolab-monitor", self);
	cfg.monitor = monitor;
	if (access(cfg.monitor, X_OK) < 0) {
		fprintf(stderr, "echolab-bench: no echolab-monitor at %s\n", cfg.monitor);
		return 1;
	}
	if (!cfg.server)
		cfg.server = server;
	if (access(cfg.server, X_OK) < 0) {
		fprintf(stderr, "echolab-bench: no echolab-server at %s (--server-bin PATH)\n", cfg.server);
		return 1;
	}
	struct bench_cfg known = cfg;
	if (bench_list_models(&known) <= 0) {
		fprintf(stderr, "echolab-bench: %s --list-models failed\n", cfg.server);
		return 1;
	}
	if (quick) {
		snprintf(cfg.models[0], sizeof(cfg.models[0]), "fork");
		snprintf(cfg.models[1], sizeof(cfg.models[1]), "thread");
		cfg.nmodels = 2;
		cfg.counts[0] = 10;
		cfg.counts[1] = 30;
		cfg.ncounts = 2;
		if (!duration_set)
			cfg.duration_s = 1;
		cfg.warmup_s = 0.5;
	}
	if (models) {
		if (split_models(models, &cfg) <= 0)
			return usage_error("bad --models '%s'", models);
		for (int i = 0; i < cfg.nmodels; i++)
			if (!is_model(&known, cfg.models[i]))
				return usage_error("unknown model '%s'", cfg.models[i]);
	} else if (!quick && !bl.nservers) {
		memcpy(cfg.models, known.models, sizeof(cfg.models));
		cfg.nmodels = known.nmodels;
	}
	if (cfg.target_host) {
		snprintf(cfg.models[0], sizeof(cfg.models[0]), "target");
		cfg.nmodels = 1;
	}
	for (int i = 0; i < cfg.nmodels; i++)
		snprintf(cfg.traits[i], sizeof(cfg.traits[i]), "%s", bench_model_traits(&known, cfg.models[i]));
	/* Servers by command join the experiment's models (the backlog
	 * experiment takes them from bl itself). A name may be a model's
	 * (--server fork=...) when that model does not run too. */
	for (int i = 0; i < bl.nservers && !backlog_exp; i++) {
		const char *name = bl.servers[i].name;
		for (int j = 0; j < cfg.nmodels; j++)
			if (strcmp(cfg.models[j], name) == 0)
				return usage_error("--server %s: the name is taken already", name);
		if (cfg.nmodels == BENCH_MAX_MODELS)
			return usage_error("at most %d models and servers", BENCH_MAX_MODELS);
		snprintf(cfg.models[cfg.nmodels], sizeof(cfg.models[0]), "%s", name);
		cfg.traits[cfg.nmodels][0] = 0;
		cfg.cmds[cfg.nmodels++] = bl.servers[i].cmd;
	}
	if (sweep && !is_model(&known, sweep_model))
		return usage_error("unknown model '%s'", sweep_model);
	if (clients) {
		cfg.ncounts = split_counts(clients, cfg.counts, BENCH_MAX_COUNTS);
		if (cfg.ncounts <= 0)
			return usage_error("bad --clients '%s' (1 to 20000 each)", clients);
	} else if (!quick) {
		long d[] = {30, 100, 300, 500};
		memcpy(cfg.counts, d, sizeof(d));
		cfg.ncounts = 4;
		if (sweep) {
			cfg.counts[0] = 100;
			cfg.ncounts = 1;
		}
	}
	if (sweep && !duration_set)
		cfg.duration_s = 3;
	if (sweep && cfg.warmup_s == 2)
		cfg.warmup_s = 1;
	if (tools && !duration_set)
		cfg.duration_s = 5;
	double soak_total = duration_set ? cfg.duration_s : 600;
	if (soak && !clients) {
		cfg.counts[0] = 500;
		cfg.ncounts = 1;
	}

	/* Room for the clients' sockets, here and in the server. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct el_lan net;
	if (lan) {
		char why[512];
		if (el_lan_create(&net, delay_ms > 0 ? (int)delay_ms : 0, 0, why, sizeof(why)) < 0) {
			fprintf(stderr, "echolab-bench: --lan: %s\n", why);
			return 1;
		}
		cfg.lan = &net;
	}
	describe_placement(&cfg, delay_ms > 0 ? (int)delay_ms : 0);
	if (make_dirs(&cfg, out) < 0) {
		if (lan)
			el_lan_destroy(&net);
		return 1;
	}
	if (tools)
		return run_tools(&cfg, minimal);
	if (soak)
		return run_soak(&cfg, soak_total, &lim);
	if (backlog_exp) {
		char pcap_tool[PATH_MAX + 32];
		snprintf(pcap_tool, sizeof(pcap_tool), "%s/echolab-pcap", self);
		bl.pcap_tool = pcap_tool;
		return bench_backlog_experiment(&cfg, &bl);
	}
	int rc;
	if (sweep)
		rc = run_sweep(&cfg, sweep_model, cfg.counts[0], target, start_rate);
	else
		rc = run_experiment(&cfg);
	if (lan)
		el_lan_destroy(&net);
	return rc;
}

