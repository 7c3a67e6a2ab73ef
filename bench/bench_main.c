/* echolab-bench: the lab's experiment for every server model, the open-loop
 * sweep, and the benchmark of the tools themselves. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	"                     [--spawn | --processes P] [--raw] [--out DIR] [--server-bin PATH]\n"
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
	"Runs the lab's experiment (a course's echo servers under 30-500 clients)\n"
	"for every server model: for each model and\n"
	"client count, starts echolab-server, samples its process tree, and runs\n"
	"the load (closed loop) for --duration after --warmup. Writes under\n"
	"DIR/<timestamp>/ (and a DIR/latest link): summary.csv, report.md,\n"
	"report.html, the plots (gnuplot), and every raw file.\n"
	"\n"
	"  --models LIST     comma-separated (default: every model of --list-models)\n"
	"  --clients LIST    client counts (default 30,100,300,500)\n"
	"  --duration S      measured seconds per cell (default 2; sweep 3, tools 5,\n"
	"                    --quick 1, the soak's whole run 600)\n"
	"  --warmup S        seconds before each measurement (default 1; --quick\n"
	"                    0.5, the sweep 1, the soak and --tools 2)\n"
	"  --repeats R       runs of every cell, interleaved across the models, each\n"
	"                    with its own server; their spread reported, a cell\n"
	"                    whose repeats lie over 10% from their median marked\n"
	"                    UNSTABLE (default 3; --quick and other modes 1)\n"
	"  --interval S      monitor sampling interval (default 0.5)\n"
	"  --size BYTES      message size (default 64)\n"
	"  --threads T       load event loops (default: one per CPU)\n"
	"  --spawn           one load process per client, as the lab's script\n"
	"  --processes P     the load's connections over P processes, an event loop\n"
	"                    each, figures merged exactly (past one process's fd\n"
	"                    limit: echolab-load's --processes)\n"
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
	"                    every CPU, the load's event loop i pinned to CPU i\n"
	"                    (paired). The report says which\n"
	"  --no-pin          the load's event loops where the scheduler puts them\n"
	"                    (the placement before paired; to compare the two)\n"
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

/* The command line as parsed, beside the cell settings it puts into
 * bench_cfg: which mode, and each mode's own settings. */
struct args {
	const char *models, *clients, *out, *sweep_model;
	bool quick, sweep, tools, soak, backlog_exp, lan, compare, duration_set, repeats_set, warmup_set;
	struct soak_limits lim;
	double target, start_rate, delay_ms, fail_pct, min_pct;
	struct bl_opts bl;
};

/* What a mode takes of the options the experiment takes. */
enum {
	TAKES_SERVER = 1 << 0,   /* --server NAME=CMD */
	TAKES_WORKLOAD = 1 << 1, /* --workload */
	TAKES_PROBE = 1 << 2,    /* --probe */
	TAKES_LAN = 1 << 3,      /* --lan, --delay */
	TAKES_RAW = 1 << 4,      /* --raw */
};

static int run_experiment(struct bench_cfg *cfg, struct args *a, const char *self);
static int run_sweep(struct bench_cfg *cfg, struct args *a, const char *self);
static int run_tools(struct bench_cfg *cfg, struct args *a, const char *self);
static int run_soak(struct bench_cfg *cfg, struct args *a, const char *self);
static int run_backlog(struct bench_cfg *cfg, struct args *a, const char *self);

/* echolab-bench's modes: the option that selects one (its bool in struct
 * args; none for the experiment, the default), what it takes of the
 * experiment's options, and its run. Usage errors name the modes that
 * take an option from here. --compare reads results and runs nothing:
 * it is apart. A new mode is a row, its run and its defaults in
 * choose_cells. */
static const struct mode {
	const char *name;
	size_t selected; /* offsetof its bool in struct args; 0: the default */
	unsigned takes;
	int (*run)(struct bench_cfg *cfg, struct args *a, const char *self);
} modes[] = {
	{"the experiment", 0, TAKES_SERVER | TAKES_WORKLOAD | TAKES_PROBE | TAKES_LAN | TAKES_RAW, run_experiment},
	{"--quick", offsetof(struct args, quick), TAKES_SERVER | TAKES_WORKLOAD | TAKES_PROBE | TAKES_LAN | TAKES_RAW,
	 run_experiment},
	{"--sweep", offsetof(struct args, sweep), TAKES_WORKLOAD | TAKES_LAN, run_sweep},
	{"--tools", offsetof(struct args, tools), 0, run_tools},
	{"--soak", offsetof(struct args, soak), 0, run_soak},
	{"--backlog-experiment", offsetof(struct args, backlog_exp), TAKES_SERVER, run_backlog},
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

static bool mode_selected(const struct args *a, const struct mode *m)
{
	return m->selected && *(const bool *)((const char *)a + m->selected);
}

/* The mode the command line chose (the experiment when none), and in
 * *n how many it chose. */
static const struct mode *mode_of(const struct args *a, int *n)
{
	const struct mode *chosen = &modes[0];
	*n = 0;
	for (size_t i = 1; i < NMODES; i++)
		if (mode_selected(a, &modes[i])) {
			chosen = &modes[i];
			(*n)++;
		}
	return chosen;
}

/* "the experiment, --quick and --sweep": the modes that take what. */
static const char *takers(unsigned what, char *buf, size_t len)
{
	size_t n = 0, count = 0, total = 0;
	for (size_t i = 0; i < NMODES; i++)
		total += (modes[i].takes & what) != 0;
	buf[0] = 0;
	for (size_t i = 0; i < NMODES && n < len; i++) {
		if (!(modes[i].takes & what))
			continue;
		count++;
		const char *sep = count == 1 ? "" : count == total ? " and " : ", ";
		n += (size_t)snprintf(buf + n, len - n, "%s%s", sep, modes[i].name);
	}
	return buf;
}

/* The parsers of the option groups: each returns 0 when it took the
 * option, 1 when the option is another group's, 2 after a usage error. */

/* --target HOST:PORT (an IPv6 address in brackets). */
static int parse_target(const char *arg, struct bench_cfg *cfg)
{
	if (!el_cli_parse_hostport(arg, cfg->target_text, sizeof(cfg->target_text), &cfg->target_port))
		return usage_error("bad --target '%s' (HOST:PORT; an IPv6 address in brackets)", arg);
	cfg->target_host = cfg->target_text;
	return 0;
}

/* --server NAME=CMD, into the servers of bl. */
static int parse_server(const char *arg, struct bl_opts *bl)
{
	const char *eq = strchr(arg, '=');
	if (!eq)
		return usage_error("--server takes NAME=CMD (the echolab-server binary is --server-bin PATH): '%s'",
				   arg);
	if (eq == arg || (size_t)(eq - arg) >= sizeof(bl->servers[0].name) || !eq[1] ||
	    strlen(eq + 1) >= sizeof(bl->servers[0].cmd) || bl->nservers == BL_MAX_SERVERS)
		return usage_error("bad --server '%s' (NAME=CMD, NAME up to 31 characters, at most %d servers)", arg,
				   BL_MAX_SERVERS);
	if (strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != (size_t)(eq - arg))
		return usage_error("--server %.*s: NAME is letters, digits, '_', '.' and '-' (it names files)",
				   (int)(eq - arg), arg);
	struct bl_server *sv = &bl->servers[bl->nservers++];
	snprintf(sv->name, sizeof(sv->name), "%.*s", (int)(eq - arg), arg);
	snprintf(sv->cmd, sizeof(sv->cmd), "%s", eq + 1);
	if (!el_sup_has(sv->cmd, "port"))
		return usage_error("--server %s: CMD needs {port}", sv->name);
	struct el_sup_settings probe = {.port = 1};
	char expanded[2048], bad[64];
	if (el_sup_expand(sv->cmd, &probe, expanded, sizeof(expanded), bad, sizeof(bad)) == -EINVAL)
		return usage_error("--server %s: bad placeholder %s", sv->name, bad);
	return 0;
}

/* What every cell runs: its time, size, load and placement. */
static int parse_cell_option(int ch, const char *arg, struct bench_cfg *cfg, struct args *a)
{
	double v;
	switch (ch) {
	case 'm': a->models = arg; return 0;
	case 'c': a->clients = arg; return 0;
	case 'd':
		if (!el_cli_parse_num(arg, 0.1, 86400, &cfg->duration_s))
			return usage_error("bad --duration '%s'", arg);
		a->duration_set = true;
		return 0;
	case 'w':
		a->warmup_set = true;
		return el_cli_parse_num(arg, 0, 600, &cfg->warmup_s) ? 0 : usage_error("bad --warmup '%s'", arg);
	case 'r':
		if (!el_cli_parse_num(arg, 1, BENCH_MAX_REPEATS, &v) || v != floor(v))
			return usage_error("bad --repeats '%s' (1 to %d)", arg, BENCH_MAX_REPEATS);
		cfg->repeats = (int)v;
		a->repeats_set = true;
		return 0;
	case 'i':
		return el_cli_parse_num(arg, 0.05, 60, &cfg->interval_s) ? 0 : usage_error("bad --interval '%s'", arg);
	case 's':
		if (!el_cli_parse_num(arg, 1, 65536, &v) || v != floor(v))
			return usage_error("bad --size '%s' (1 to 65536)", arg);
		cfg->msg_size = (size_t)v;
		return 0;
	case 't':
		if (!el_cli_parse_num(arg, 1, 256, &v) || v != floor(v))
			return usage_error("bad --threads '%s'", arg);
		cfg->threads = (int)v;
		return 0;
	case 'S': cfg->spawn = true; return 0;
	case 0x116:
		if (!el_cli_parse_num(arg, 1, 1024, &v) || v != floor(v))
			return usage_error("bad --processes '%s' (1 to 1024)", arg);
		cfg->processes = (int)v;
		return 0;
	case 0x115: cfg->pair = false; return 0;
	case 'A': cfg->raw = true; return 0;
	case 0x110:
		if (strcmp(arg, "closed") == 0) {
			cfg->session = 0;
			return 0;
		}
		if (strncmp(arg, "session:", 8) != 0 || !el_cli_parse_num(arg + 8, 1, 1e9, &v) || v != floor(v))
			return usage_error("bad --workload '%s' (closed, or session:K with K messages a connection)",
					   arg);
		cfg->session = (long)v;
		return 0;
	case 0x113:
		return el_cli_parse_num(arg, 0.1, 1e5, &cfg->probe_rate) ? 0
			: usage_error("bad --probe '%s' (messages/s)", arg);
	case 'g': return parse_target(arg, cfg);
	case 'G': cfg->target_monitor = arg; return 0;
	case 'P':
		if (parse_cpus(arg, cfg) < 0)
			return usage_error("bad --cpus '%s' (SERVER:LOAD, each a CPU list such as 0, 0-1 or 0,2, of "
					   "this machine's CPUs)", arg);
		return 0;
	case 'N': a->lan = true; return 0;
	case 'D':
		if (!el_cli_parse_num(arg, 0, 10000, &a->delay_ms) || a->delay_ms != floor(a->delay_ms))
			return usage_error("bad --delay '%s' (whole milliseconds, 0 to 10000)", arg);
		return 0;
	case 'o': a->out = arg; return 0;
	case 'X': cfg->server = arg; return 0;
	case 'x': return parse_server(arg, &a->bl);
	default: return 1;
	}
}

/* The modes and their own settings. */
static int parse_mode_option(int ch, const char *arg, struct args *a)
{
	double v;
	switch (ch) {
	case 'q': a->quick = true; return 0;
	case 'W': a->sweep = true; return 0;
	case 'M': a->sweep_model = arg; return 0;
	case 'p':
		return el_cli_parse_num(arg, 1, 1e9, &a->target) ? 0
			: usage_error("bad --p99-target '%s' (microseconds)", arg);
	case 'R':
		return el_cli_parse_num(arg, 1, 1e9, &a->start_rate) ? 0 : usage_error("bad --start-rate '%s'", arg);
	case 'T': a->tools = true; return 0;
	case 'K': a->soak = true; return 0;
	case 'L':
		return el_cli_parse_num(arg, 0, 1e9, &a->lim.rss_kib_per_min) ? 0
			: usage_error("bad --rss-slope '%s' (KiB per minute)", arg);
	case 'F':
		return el_cli_parse_num(arg, 0, 1e9, &a->lim.fds_per_min) ? 0
			: usage_error("bad --fd-slope '%s' (fds per minute)", arg);
	case 'B': a->backlog_exp = true; return 0;
	case 'b':
		if (bl_parse_backlogs(arg, &a->bl) < 0)
			return usage_error("bad --backlogs '%s' (0 to 65535 each, at most %d)", arg, BL_MAX_BACKLOGS);
		return 0;
	case 'u':
		if (!el_cli_parse_num(arg, 1, 1000, &v) || v != floor(v))
			return usage_error("bad --burst '%s' (1 to 1000)", arg);
		a->bl.burst = (int)v;
		return 0;
	case 'H':
		return el_cli_parse_num(arg, 0.1, 600, &a->bl.hold_s) ? 0 : usage_error("bad --hold '%s' (seconds)", arg);
	case 0x111: a->compare = true; return 0;
	case 0x112:
		return el_cli_parse_num(arg, 0, 1e6, &a->fail_pct) ? 0
			: usage_error("bad --fail-if-slower '%s' (percent)", arg);
	case 0x114:
		return el_cli_parse_num(arg, 0, 1000, &a->min_pct) ? 0
			: usage_error("bad --min-change '%s' (percent)", arg);
	default: return 1;
	}
}

/* echolab-bench's options (getopt_long's table). */
static const struct option options[] = {
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
	{"probe", required_argument, NULL, 0x113}, {"min-change", required_argument, NULL, 0x114},
	{"no-pin", no_argument, NULL, 0x115}, {"processes", required_argument, NULL, 0x116}, {0},
};

/* Whether word is one of echolab-bench's options, as getopt_long would
 * take it ("--out", "--out=DIR", an abbreviation such as "--dur"; "--"). */
static bool is_bench_option(const char *word)
{
	if (strncmp(word, "--", 2) != 0)
		return false;
	size_t len = strcspn(word + 2, "=");
	for (const struct option *o = options; o->name; o++)
		if (strncmp(o->name, word + 2, len) == 0)
			return true;
	return false;
}

/* --server NAME=CMD without {port} where the words after it (up to the
 * next option of ours) have it: the shell split an unquoted CMD at its
 * spaces, and "CMD needs {port}" would send a student looking for a
 * {port} they did write. Says so with the quoting, and returns 2; returns
 * 0 when the words do not look like that. */
static int server_cmd_split(const char *arg, int argc, char **argv, int next)
{
	int end = next, port_word = -1;
	for (; end < argc && !is_bench_option(argv[end]); end++)
		if (port_word < 0 && el_sup_has(argv[end], "port"))
			port_word = end;
	if (port_word < 0 || !strchr(arg, '='))
		return 0;
	/* The words the shell split, joined again, as one shell word. */
	char joined[1024], quoted[3200] = "";
	size_t n = 0;
	for (int i = next - 1; i < end && n < sizeof(joined); i++)
		n += (size_t)snprintf(joined + n, sizeof(joined) - n, "%s%s", i >= next ? " " : "",
				      i == next - 1 ? arg : argv[i]);
	el_cli_shell_word(quoted, sizeof(quoted), joined);
	return usage_error("--server %.*s: the shell split CMD at its spaces ('%s' came as an argument of its "
			   "own); quote it: --server %s",
			   (int)strcspn(arg, "="), arg, argv[port_word], quoted);
}

/* Parses argv into cfg and a. Returns -1 to go on, or the exit status
 * (0 after --help or --version, 2 after a usage error). */
static int parse_args(int argc, char **argv, struct bench_cfg *cfg, struct args *a)
{
	/* Quoted as a shell reads it, so that the report's command pastes
	 * back ("--server mine=/tmp/s/server {port}" had lost its quotes). */
	el_cli_shell_line(cfg->command, sizeof(cfg->command), argc, argv);
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (ch == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (ch == 'v') {
			el_version_print("echolab-bench");
			return 0;
		}
		int rc = ch == 'x' && !el_sup_has(optarg, "port") ? server_cmd_split(optarg, argc, argv, optind) : 0;
		if (rc == 0)
			rc = parse_cell_option(ch, optarg, cfg, a);
		if (rc == 1)
			rc = parse_mode_option(ch, optarg, a);
		if (rc == 1)
			return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		if (rc)
			return rc;
	}
	return -1;
}

/* The options that do not go together. Returns 0 or 2 after saying why. */
static int check_args(const struct args *a, const struct bench_cfg *cfg)
{
	int chosen;
	const struct mode *m = mode_of(a, &chosen);
	char names[160];
	if (chosen > 1) {
		size_t n = 0;
		for (size_t i = 1; i < NMODES; i++)
			n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i > 1 ? ", " : "", modes[i].name);
		return usage_error("%s exclude each other", names);
	}
	const struct {
		unsigned what;
		bool given;
		const char *option, *more;
	} taken[] = {
		{TAKES_SERVER, a->bl.nservers > 0, "--server NAME=CMD",
		 "; the echolab-server binary is --server-bin PATH"},
		{TAKES_WORKLOAD, cfg->session > 0, "--workload", ""},
		{TAKES_PROBE, cfg->probe_rate > 0, "--probe", ""},
		{TAKES_LAN, a->lan, "--lan", " (the backlog experiment makes namespaces of its own)"},
		{TAKES_RAW, cfg->raw, "--raw", ""},
	};
	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
		if (taken[i].given && !(m->takes & taken[i].what))
			return usage_error("%s is for %s%s", taken[i].option, takers(taken[i].what, names, sizeof(names)),
					   taken[i].more);
	bool sweep = a->sweep, backlog_exp = a->backlog_exp;
	if (cfg->target_host && (m != &modes[0] || a->models || a->bl.nservers || cfg->pinned))
		return usage_error("%s", "--target measures one running server in the experiment: no --models, "
					 "--server, --cpus, --quick or other mode with it");
	if (cfg->session > 0 && sweep)
		return usage_error("%s", "--workload session:K is the closed loop's; the sweep is open loop");
	if (cfg->spawn && cfg->processes)
		return usage_error("%s", "--spawn and --processes exclude each other (--spawn is a process per client)");
	if (cfg->target_monitor && !cfg->target_host)
		return usage_error("%s", "--target-monitor goes with --target");
	if (a->delay_ms >= 0 && !a->lan)
		return usage_error("%s", "--delay is the emulated LAN's: it needs --lan");
	if (a->lan && cfg->target_host)
		return usage_error("%s", "--lan is for the experiment against echolab's models and servers by "
					 "command, not --target");
	for (int i = 0; i < a->bl.nservers && backlog_exp; i++)
		if (!el_sup_has(a->bl.servers[i].cmd, "backlog"))
			return usage_error("--server %s: the backlog experiment needs {backlog} in CMD",
					   a->bl.servers[i].name);
	if (sweep && (!a->sweep_model || a->target <= 0))
		return usage_error("%s", "--sweep needs --model M and --p99-target US");
	if (!sweep && a->sweep_model)
		return usage_error("%s", "--model is for --sweep; the experiment takes --models");
	return 0;
}

/* The models (with the servers by command) and client counts of the
 * mode, and its durations. Returns 0 or 2 after saying why. */
static int choose_cells(struct args *a, struct bench_cfg *cfg, const struct bench_cfg *known)
{
	/* The experiment measures each cell's spread: 3 repeats unless told;
	 * the smoke test and the other modes run once. */
	bool experiment = !(a->quick || a->sweep || a->tools || a->soak || a->backlog_exp);
	if (!a->repeats_set)
		cfg->repeats = experiment ? BENCH_DEFAULT_REPEATS : 1;
	/* Three repeats of shorter windows: a 1 s window after 0.5 s gave
	 * the same medians as 2 s after 1 s (epoll, uring, threadpool,
	 * thread at 100 clients, 5 repeats each, within 1-4%); 2 s after 1 s
	 * keeps ./ci/bench's whole grid under 10 minutes (decisions 47). */
	if (experiment && !a->duration_set)
		cfg->duration_s = 2;
	if (experiment && !a->warmup_set)
		cfg->warmup_s = 1;
	if (a->quick) {
		snprintf(cfg->models[0], sizeof(cfg->models[0]), "fork");
		snprintf(cfg->models[1], sizeof(cfg->models[1]), "thread");
		cfg->nmodels = 2;
		cfg->counts[0] = 10;
		cfg->counts[1] = 30;
		cfg->ncounts = 2;
		if (!a->duration_set)
			cfg->duration_s = 1;
		cfg->warmup_s = 0.5;
	}
	if (a->models) {
		if (split_models(a->models, cfg) <= 0)
			return usage_error("bad --models '%s'", a->models);
		for (int i = 0; i < cfg->nmodels; i++)
			if (!is_model(known, cfg->models[i]))
				return usage_error("unknown model '%s'", cfg->models[i]);
	} else if (!a->quick && !a->bl.nservers) {
		memcpy(cfg->models, known->models, sizeof(cfg->models));
		cfg->nmodels = known->nmodels;
	}
	if (cfg->target_host) {
		snprintf(cfg->models[0], sizeof(cfg->models[0]), "target");
		cfg->nmodels = 1;
	}
	for (int i = 0; i < cfg->nmodels; i++)
		cfg->traits[i] = bench_model_traits(known, cfg->models[i]);
	/* Servers by command join the experiment's models (the backlog
	 * experiment takes them from bl itself). A name may be a model's
	 * (--server fork=...) when that model does not run too. */
	for (int i = 0; i < a->bl.nservers && !a->backlog_exp; i++) {
		const char *name = a->bl.servers[i].name;
		for (int j = 0; j < cfg->nmodels; j++)
			if (strcmp(cfg->models[j], name) == 0)
				return usage_error("--server %s: the name is taken already", name);
		if (cfg->nmodels == BENCH_MAX_MODELS)
			return usage_error("at most %d models and servers", BENCH_MAX_MODELS);
		snprintf(cfg->models[cfg->nmodels], sizeof(cfg->models[0]), "%s", name);
		cfg->traits[cfg->nmodels] = 0;
		cfg->cmds[cfg->nmodels++] = a->bl.servers[i].cmd;
	}
	if (a->sweep && !is_model(known, a->sweep_model))
		return usage_error("unknown model '%s'", a->sweep_model);
	if (a->clients) {
		cfg->ncounts = split_counts(a->clients, cfg->counts, BENCH_MAX_COUNTS);
		if (cfg->ncounts <= 0)
			return usage_error("bad --clients '%s' (1 to 20000 each)", a->clients);
	} else if (!a->quick) {
		long d[] = {30, 100, 300, 500};
		memcpy(cfg->counts, d, sizeof(d));
		cfg->ncounts = a->sweep ? 1 : 4;
		if (a->sweep)
			cfg->counts[0] = 100;
	}
	if (a->sweep && !a->duration_set)
		cfg->duration_s = 3;
	if (a->sweep && cfg->warmup_s == 2)
		cfg->warmup_s = 1;
	if (a->tools && !a->duration_set)
		cfg->duration_s = 5;
	if (a->soak && !a->clients) {
		cfg->counts[0] = 500;
		cfg->ncounts = 1;
	}
	return 0;
}

/* The programs beside this one (or, installed, bench-minimal-client in
 * libexec): self is this program's directory. Returns 0, or 1 after
 * saying which is missing. */
static int find_programs(struct bench_cfg *cfg, char *self, size_t len, char *server, char *monitor,
			 char *minimal, size_t plen)
{
	ssize_t n = readlink("/proc/self/exe", self, len - 1);
	self[n > 0 ? n : 0] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(server, plen, "%s/echolab-server", self);
	snprintf(minimal, plen, "%s/bench-minimal-client", self);
	if (access(minimal, X_OK) < 0)
		snprintf(minimal, plen, "%s/../libexec/echolab/bench-minimal-client", self);
	snprintf(monitor, plen, "%s/echolab-monitor", self);
	cfg->monitor = monitor;
	if (access(cfg->monitor, X_OK) < 0) {
		fprintf(stderr, "echolab-bench: no echolab-monitor at %s\n", cfg->monitor);
		return 1;
	}
	if (!cfg->server)
		cfg->server = server;
	if (access(cfg->server, X_OK) < 0) {
		fprintf(stderr, "echolab-bench: no echolab-server at %s (--server-bin PATH)\n", cfg->server);
		return 1;
	}
	return 0;
}

/* Room for the clients' sockets, here and in the server; the signals. */
static void setup_process(void)
{
	el_cli_raise_nofile(0);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* bench-minimal-client's path, for --tools (find_programs). */
static char minimal_client[PATH_MAX + 64];

static int run_experiment(struct bench_cfg *cfg, struct args *a, const char *self)
{
	return bench_run_experiment(cfg);
}

static int run_sweep(struct bench_cfg *cfg, struct args *a, const char *self)
{
	return bench_run_sweep(cfg, a->sweep_model, cfg->counts[0], a->target, a->start_rate);
}

static int run_tools(struct bench_cfg *cfg, struct args *a, const char *self)
{
	return bench_run_tools(cfg, minimal_client);
}

static int run_soak(struct bench_cfg *cfg, struct args *a, const char *self)
{
	return bench_run_soak(cfg, a->duration_set ? cfg->duration_s : 600, &a->lim);
}

static int run_backlog(struct bench_cfg *cfg, struct args *a, const char *self)
{
	char pcap_tool[PATH_MAX + 32];
	snprintf(pcap_tool, sizeof(pcap_tool), "%s/echolab-pcap", self);
	a->bl.pcap_tool = pcap_tool;
	return bench_backlog_experiment(cfg, &a->bl);
}

int main(int argc, char **argv)
{
	static struct bench_cfg cfg = {
		.repeats = 1,
		.duration_s = 10,
		.warmup_s = 2,
		.interval_s = 0.5,
		.msg_size = 64,
		.pair = true,
		.stop = &stop,
	};
	static struct args a = {
		.out = "results",
		.lim = {.rss_kib_per_min = 512, .rss_frac_per_min = 0.002, .fds_per_min = 0.5, .settle_frac = 0.2},
		.start_rate = 2000,
		.delay_ms = -1,
		.fail_pct = -1,
		.min_pct = -1,
		.bl = {.backlogs = {1, 8, 128}, .nbacklogs = 3, .one_by_one = 10, .gap_s = 0.1, .burst = 50,
		       .hold_s = 3},
	};
	int rc = parse_args(argc, argv, &cfg, &a);
	if (rc >= 0)
		return rc;
	if (a.fail_pct >= 0 && !a.compare)
		return usage_error("%s", "--fail-if-slower goes with --compare");
	if (a.min_pct >= 0 && !a.compare)
		return usage_error("%s", "--min-change goes with --compare");
	if (a.compare) {
		if (argc - optind != 2)
			return usage_error("%s", "--compare takes two results directories: DIR_A DIR_B");
		if (make_dirs(&cfg, a.out) < 0)
			return 1;
		snprintf(cfg.command, sizeof(cfg.command), "echolab-bench --compare %s %s", argv[optind],
			 argv[optind + 1]);
		return bench_compare(&cfg, argv[optind], argv[optind + 1], a.fail_pct, a.min_pct >= 0 ? a.min_pct : BENCH_MIN_CHANGE_PCT);
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if ((rc = check_args(&a, &cfg)) != 0)
		return rc;
	static char self[PATH_MAX], server[PATH_MAX + 64], monitor[PATH_MAX + 64];
	if (find_programs(&cfg, self, sizeof(self), server, monitor, minimal_client, sizeof(server)) != 0)
		return 1;
	static struct bench_cfg known;
	known = cfg;
	char listed[256];
	if (bench_list_models(&known, listed, sizeof(listed)) <= 0) {
		fprintf(stderr, "echolab-bench: %s\n", listed);
		return 1;
	}
	if ((rc = choose_cells(&a, &cfg, &known)) != 0)
		return rc;
	setup_process();
	struct el_lan net;
	int delay = a.delay_ms > 0 ? (int)a.delay_ms : 0;
	if (a.lan) {
		char why[512];
		if (el_lan_create(&net, delay, 0, why, sizeof(why)) < 0) {
			fprintf(stderr, "echolab-bench: --lan: %s\n", why);
			return 1;
		}
		cfg.lan = &net;
	}
	bench_describe_placement(&cfg, delay);
	int chosen;
	if (make_dirs(&cfg, a.out) < 0)
		rc = 1;
	else
		rc = mode_of(&a, &chosen)->run(&cfg, &a, self);
	if (a.lan)
		el_lan_destroy(&net);
	return rc;
}
