/* echolab-load: a closed- or open-loop load generator for echo servers
 * that checks every reply and reports RTT percentiles (docs/interface.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hlog.h"
#include "intervals.h"
#include "load.h"
#include "probe.h"
#include "merge.h"
#include "version.h"

#define usage_error(...) el_cli_usage("echolab-load", __VA_ARGS__)

static const char usage_text[] =
	"usage: echolab-load [--host H] [--port N] [--conns N] [--threads T] [--pin]\n"
	"                    [--message M | --size BYTES] [--raw]\n"
	"                    [--duration S] [--warmup S] [--count K] [--rate R]\n"
	"                    [--connect-rate R] [--timeout S] [--spawn]\n"
	"                    [--percentiles LIST] [--json FILE] [--hgrm FILE]\n"
	"                    [--rtt-log FILE [--rtt-log-all]] [--quiet]\n"
	"                    [--segment I/N | --segments N] [--start-at TIME]\n"
	"                    [--bind ADDR[,ADDR...]] [--hlog FILE] [--allow-invalid]\n"
	"                    [--arrival fixed|poisson|burst:K [--seed S]] [--session K]\n"
	"                    [--interval S] [--intervals-csv FILE] [--until-ci PCT]\n"
	"                    [--rate-steps R1,R2,... [--step-duration S]] [--probe R]\n"
	"       echolab-load merge [--json OUT] FILE.json...   (merge --help)\n"
	"\n"
	"Opens N connections to an echolab server; each sends a fixed message\n"
	"and waits for its reply before sending the next (closed loop), or with\n"
	"--rate sends R messages/s whatever the replies do (open loop, RTT from\n"
	"the intended send time). Every reply is checked; errors are counted by\n"
	"kind. Prints messages/s and RTT min/mean/stddev/variance/percentiles/max\n"
	"in microseconds.\n"
	"\n"
	"  --host H           server name or address (default 127.0.0.1)\n"
	"  --port N           server port (default 1234)\n"
	"  --conns N          concurrent connections, 1 to 200000 (default 1;\n"
	"                     past ~28000, --bind more than one source address)\n"
	"  --threads T        event loops (default: one per CPU, at most N)\n"
	"  --pin              event loop i on the i-th CPU this process may use\n"
	"                     (taskset chooses which), none moving: runs repeat\n"
	"  --spawn            one process per connection instead, as the lab's\n"
	"                     shell script ran its clients\n"
	"  --processes P      the connections over P processes, an event loop\n"
	"                     each, figures merged exactly: past one process's\n"
	"                     fd limit (--pin: process i on the i-th CPU)\n"
	"  --message M        the message (default: --size 64)\n"
	"  --size BYTES       a message of BYTES printable bytes (1 to 65536)\n"
	"  --raw              the server runs with --raw: expect the bytes back\n"
	"  --duration S       measure for S seconds (default 10 without --count)\n"
	"  --warmup S         seconds before the measurement, not in the figures\n"
	"                     (default 0; connecting is part of it)\n"
	"  --count K          each connection sends K messages, then closes; one\n"
	"                     that fails ends with its error (a timed run reopens it)\n"
	"  --rate R           open loop: R messages/s per connection\n"
	"  --connect-rate R   open R connections per second (default: all at once)\n"
	"  --timeout S        a reply or connect later than S seconds is an error\n"
	"                     (default 5)\n"
	"  --percentiles L    comma-separated (default 50,90,99,99.9)\n"
	"  --json FILE        write the summary as JSON\n"
	"  --hgrm FILE        write HdrHistogram's percentile distribution (ms)\n"
	"  --hlog FILE        write HdrHistogram's interval log: a histogram (us)\n"
	"                     per second of the window, which HdrHistogram's own\n"
	"                     tools (HistogramLogProcessor) read and merge\n"
	"  --rtt-log FILE     write conn,seq,t_send_us,rtt_us of every reply of the\n"
	"                     first connection (t_send_us from the start)\n"
	"  --rtt-log-all      ... of every connection\n"
	"  --quiet            no progress line (there is none when standard error\n"
	"                     is not a terminal)\n"
	"  --segment I/N      run share I (0 <= I < N) of --conns (--rate stays per\n"
	"                     connection); without it, taken from a launcher's\n"
	"                     environment: OMPI_COMM_WORLD_RANK/SIZE, PMI_RANK/SIZE,\n"
	"                     SLURM_PROCID/NTASKS, or JOB_COMPLETION_INDEX with\n"
	"                     --segments N (a Kubernetes Indexed Job)\n"
	"  --segments N       the number of segments, for JOB_COMPLETION_INDEX\n"
	"  --start-at TIME    start the warm-up at TIME (seconds since the epoch, or\n"
	"                     RFC 3339 UTC such as 2026-11-30T12:00:00Z), so that\n"
	"                     every segment measures the same wall-clock window\n"
	"  --bind ADDR[,...]  source addresses, dealt to the connections in turn\n"
	"                     (each has its own ephemeral ports, ~28000)\n"
	"  {segment} in --json, --hgrm, --hlog, --rtt-log and --intervals-csv names is\n"
	"  replaced by I\n"
	"  (0 without a segment), so instances of one command line write apart\n"
	"  --arrival A        open loop: fixed (default: each connection's sends\n"
	"                     1/R apart) or poisson (exponential gaps of mean 1/R,\n"
	"                     each connection its own stream; the report tests the\n"
	"                     gaps sent against it, Anderson-Darling), or burst:K\n"
	"                     (fixed, K messages due together every K/R s and\n"
	"                     written at once: the same R, in bursts)\n"
	"  --seed S           poisson's seed (default: from the clock; reported)\n"
	"  --session K        closed loop: each connection sends K messages, closes\n"
	"                     and connects again (K = 1: a connection a message);\n"
	"                     connect(2) to established, and to the session's first\n"
	"                     reply, get percentiles of their own\n"
	"  --interval S       a timed run in intervals of S seconds (default 1): the\n"
	"                     report's 95% confidence intervals of msgs/s, p50 and\n"
	"                     p99 (batch means over the intervals) and its trend\n"
	"                     test (Mann-Kendall: a run that never settled)\n"
	"  --intervals-csv F  write each interval: t_s,msgs_per_s,p50_us,p99_us,errors\n"
	"  --until-ci PCT     end the run (by --duration at the latest) once p99's\n"
	"                     95% interval is within +-PCT% of it, 5 intervals at\n"
	"                     least; the report says when, or that it was not\n"
	"  --rate-steps LIST  open loop at each rate (messages/s per connection) in\n"
	"                     turn, in this one process: a line a step, --json\n"
	"                     {\"steps\": [...]} (each a run's summary)\n"
	"  --step-duration S  each step's measured seconds (default: --duration)\n"
	"  --probe R          one more connection sending R msgs/s on its own fixed\n"
	"                     schedule through the load's window: latency under\n"
	"                     load without the loader's own queueing, reported apart\n"
	"  --allow-invalid    exit 0 even when the run is invalid (below)\n"
	"  --help             this text\n"
	"  --version          the version, and the git checkout it was built from\n"
	"\n"
	"A run is invalid when the generator, not the server, shaped it: fewer\n"
	"connections answered than asked, or in open loop under 95% of the\n"
	"offered msgs/s sent, or sends late against their schedule (p99 of\n"
	"the lateness over a tenth of the gap between a connection's sends). The\n"
	"report says which, and so does --json (\"valid\", \"invalid_reasons\").\n"
	"When every connect was refused (no server at the address), the run is one\n"
	"line saying so, and invalid with the reason \"no connection was accepted\".\n"
	"\n"
	"Ctrl-C ends the run early and prints what was measured so far.\n"
	"Exit 0 when replies were measured, there was no error and the run is\n"
	"valid (or --allow-invalid), 1 otherwise, 2 on bad usage.\n";

#define MAX_PCT 16

#define MAX_BINDS 64

struct options {
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

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
	/* A second Ctrl-C ends the program at once. */
	signal(sig, SIG_DFL);
}

static bool parse_pcts(const char *s, struct options *o)
{
	o->npct = 0;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		double v;
		if (o->npct == MAX_PCT || !el_cli_parse_num(t, 0, 100, &v))
			return false;
		o->pcts[o->npct++] = v;
	}
	return o->npct > 0;
}

/* TIME as seconds since the epoch, or RFC 3339 in UTC (Z), fractions
 * allowed. */
static int parse_time(const char *s, double *out)
{
	double v;
	if (el_cli_parse_num(s, 1, 1e11, &v)) {
		*out = v;
		return 0;
	}
	struct tm tm = {0};
	const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return -1;
	double frac = 0;
	if (*rest == '.') {
		char *end;
		frac = strtod(rest, &end);
		rest = end;
	}
	if (strcmp(rest, "Z") != 0)
		return -1;
	time_t t = timegm(&tm);
	if (t < 0)
		return -1;
	*out = (double)t + frac;
	return 0;
}

static int parse_binds(const char *s, struct options *o)
{
	char buf[2048];
	snprintf(buf, sizeof(buf), "%s", s);
	int n = 0;
	for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == MAX_BINDS)
			return -1;
		struct sockaddr_storage *ss = &o->binds[n];
		memset(ss, 0, sizeof(*ss));
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET, t, &in->sin_addr) == 1)
			in->sin_family = AF_INET;
		else if (inet_pton(AF_INET6, t, &in6->sin6_addr) == 1)
			in6->sin6_family = AF_INET6;
		else
			return -1;
		n++;
	}
	if (n == 0)
		return -1;
	o->cfg.binds = o->binds;
	o->cfg.nbinds = n;
	return 0;
}

/* The segment a launcher gave this process, from its environment: Open
 * MPI's, PMI's (MPICH, Slurm's PMI), Slurm's own, or a Kubernetes Indexed
 * Job's index with --segments. Leaves *n 0 when there is none. Returns 0,
 * or -1 after saying what is wrong. */
static int launcher_segment(long segments, long *i, long *n, const char **from)
{
	static const char *const pairs[][2] = {
		{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
		{"PMI_RANK", "PMI_SIZE"},
		{"SLURM_PROCID", "SLURM_NTASKS"},
	};
	for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
		const char *r = getenv(pairs[k][0]), *s = getenv(pairs[k][1]);
		if (!r || !s)
			continue;
		if (!el_cli_parse_long(r, 0, 99999, i) || !el_cli_parse_long(s, 1, 100000, n) || *i >= *n) {
			fprintf(stderr, "echolab-load: bad %s=%s / %s=%s in the environment\n", pairs[k][0], r,
				pairs[k][1], s);
			return -1;
		}
		*from = pairs[k][0];
		return 0;
	}
	const char *idx = getenv("JOB_COMPLETION_INDEX");
	if (idx && segments) {
		if (!el_cli_parse_long(idx, 0, segments - 1, i)) {
			fprintf(stderr, "echolab-load: bad JOB_COMPLETION_INDEX=%s for --segments %ld\n", idx, segments);
			return -1;
		}
		*n = segments;
		*from = "JOB_COMPLETION_INDEX";
	} else if (idx) {
		fprintf(stderr, "echolab-load: JOB_COMPLETION_INDEX is set: give --segments N (the Job's "
				"completions), or --segment I/N\n");
		return -1;
	}
	return 0;
}

/* The parsers of the option groups: each returns 0 when it took the
 * option, 1 when the option is the other group's, 2 after a usage error. */

/* --rate-steps R1,R2,...: up to 32 rates. */
static int parse_steps(const char *arg, struct options *o)
{
	char buf[512], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", arg);
	o->nsteps = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (o->nsteps == 32 || !el_cli_parse_num(t, 0.001, 1e6, &o->steps[o->nsteps]))
			return usage_error("bad --rate-steps '%s' (up to 32 rates, messages/s per connection)", arg);
		o->nsteps++;
	}
	return o->nsteps ? 0 : usage_error("bad --rate-steps '%s'", arg);
}

/* --seed N: a whole number, not negative. */
static int parse_seed(const char *arg, struct options *o)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-')
		return usage_error("bad --seed '%s'", arg);
	o->cfg.seed = v;
	o->seed_set = true;
	return 0;
}

/* What the load does: where, how many, what, how fast. */
static int parse_run_option(int c, const char *arg, struct options *o)
{
	struct el_load_cfg *cfg = &o->cfg;
	switch (c) {
	case 'H': cfg->host = arg; return 0;
	case 'p':
		return el_cli_parse_long(arg, 1, 65535, &o->port) ? 0 : usage_error("bad --port '%s' (1 to 65535)", arg);
	case 'n':
		return el_cli_parse_long(arg, 1, EL_LOAD_MAX_CONNS, &cfg->conns) ? 0
			: usage_error("bad --conns '%s' (1 to %d)", arg, EL_LOAD_MAX_CONNS);
	case 't':
		return el_cli_parse_long(arg, 1, 256, &o->threads) ? 0 : usage_error("bad --threads '%s' (1 to 256)", arg);
	case 'S': cfg->spawn = true; return 0;
	case 0x10b: {
		long v;
		if (!el_cli_parse_long(arg, 1, 1024, &v))
			return usage_error("bad --processes '%s' (1 to 1024)", arg);
		cfg->processes = (int)v;
		return 0;
	}
	case 0x10a: cfg->pin = true; return 0;
	case 'm': o->message = arg; return 0;
	case 's':
		return el_cli_parse_long(arg, 1, 65536, &o->size) ? 0 : usage_error("bad --size '%s' (1 to 65536)", arg);
	case 'r': cfg->raw = true; return 0;
	case 'd':
		return el_cli_parse_num(arg, 0.001, 1e6, &cfg->duration_s) ? 0
			: usage_error("bad --duration '%s' (seconds)", arg);
	case 'w':
		return el_cli_parse_num(arg, 0, 1e6, &cfg->warmup_s) ? 0 : usage_error("bad --warmup '%s' (seconds)", arg);
	case 'c':
		return el_cli_parse_long(arg, 1, 1000000000L, &cfg->count) ? 0 : usage_error("bad --count '%s'", arg);
	case 'R':
		return el_cli_parse_num(arg, 0.001, 1e6, &cfg->rate) ? 0
			: usage_error("bad --rate '%s' (messages/s per connection)", arg);
	case 'C':
		return el_cli_parse_num(arg, 0.001, 1e7, &cfg->connect_rate) ? 0
			: usage_error("bad --connect-rate '%s' (connections/s)", arg);
	case 'T':
		return el_cli_parse_num(arg, 0.001, 3600, &o->timeout_s) ? 0
			: usage_error("bad --timeout '%s' (seconds)", arg);
	case 0x101:
		if (strcmp(arg, "poisson") == 0) {
			cfg->poisson = true;
		} else if (strncmp(arg, "burst:", 6) == 0) {
			long k;
			if (!el_cli_parse_long(arg + 6, 2, 1000, &k))
				return usage_error("bad --arrival '%s' (burst:K, K from 2 to 1000)", arg);
			cfg->burst = (int)k;
		} else if (strcmp(arg, "fixed") != 0) {
			return usage_error("bad --arrival '%s' (fixed, poisson or burst:K)", arg);
		}
		o->arrival_set = true;
		return 0;
	case 0x102: return parse_seed(arg, o);
	case 0x103:
		return el_cli_parse_long(arg, 1, 1000000000, &cfg->session) ? 0
			: usage_error("bad --session '%s' (messages per connection, 1 or more)", arg);
	case 0x107: return parse_steps(arg, o);
	case 0x108:
		return el_cli_parse_num(arg, 0.1, 86400, &o->step_s) ? 0
			: usage_error("bad --step-duration '%s' (seconds)", arg);
	case 0x109:
		return el_cli_parse_num(arg, 0.1, 1e5, &o->probe) ? 0 : usage_error("bad --probe '%s' (messages/s)", arg);
	case 'b':
		return parse_binds(arg, o) < 0 ? usage_error("bad --bind '%s' (IP addresses separated by commas, at "
							     "most %d)", arg, MAX_BINDS) : 0;
	default: return 1;
	}
}

/* What it reports, and which part of a shared run it is. */
static int parse_output_option(int c, const char *arg, struct options *o)
{
	struct el_load_cfg *cfg = &o->cfg;
	switch (c) {
	case 'P':
		return parse_pcts(arg, o) ? 0 : usage_error("bad --percentiles '%s' (e.g. 50,99,99.9)", arg);
	case 'j': o->json = arg; return 0;
	case 'g': o->hgrm = arg; return 0;
	case 'L': o->hlog = arg; return 0;
	case 'l': o->rtt_log = arg; return 0;
	case 'A': cfg->rtt_log_all = true; return 0;
	case 'I': o->allow_invalid = true; return 0;
	case 'q': o->quiet = true; return 0;
	case 0x104:
		return el_cli_parse_num(arg, 1, 3600, &o->interval_s) ? 0
			: usage_error("bad --interval '%s' (1 to 3600 seconds)", arg);
	case 0x105: o->intervals_csv = arg; return 0;
	case 0x106:
		if (!el_cli_parse_num(arg, 0, 10000, &o->until_ci) || o->until_ci == 0)
			return usage_error("bad --until-ci '%s' (a percentage, over 0 and at most 10000)", arg);
		return 0;
	case 'g' + 256: {
		char *slash = strchr(arg, '/');
		if (!slash || sscanf(arg, "%ld/%ld", &o->seg_i, &o->seg_n) != 2 || o->seg_n < 1 || o->seg_n > 100000 ||
		    o->seg_i < 0 || o->seg_i >= o->seg_n || strspn(arg, "0123456789/") != strlen(arg))
			return usage_error("bad --segment '%s' (I/N, 0 <= I < N)", arg);
		cfg->seg_from = "--segment";
		return 0;
	}
	case 'N':
		return el_cli_parse_long(arg, 1, 100000, &o->segments) ? 0
			: usage_error("bad --segments '%s' (1 to 100000)", arg);
	case 'a':
		return parse_time(arg, &cfg->start_at_unix) < 0
			? usage_error("bad --start-at '%s' (seconds since the epoch, or RFC 3339 UTC such as "
				      "2026-11-30T12:00:00Z)", arg) : 0;
	default: return 1;
	}
}

/* The options that do not go together. Returns 0 or 2 after saying why. */
static int check_options(struct options *o)
{
	struct el_load_cfg *cfg = &o->cfg;
	if (o->message && o->size)
		return usage_error("%s", "--message and --size exclude each other");
	if (o->message && (o->message[0] == '\0' || strchr(o->message, '\n')))
		return usage_error("%s", "--message must be non-empty and hold no LF");
	if (cfg->rtt_log_all && !o->rtt_log)
		return usage_error("%s", "--rtt-log-all needs --rtt-log FILE");
	if (cfg->spawn && cfg->conns > 5000)
		return usage_error("%s", "--spawn runs at most 5000 processes");
	if (cfg->count == 0 && cfg->duration_s == 0)
		cfg->duration_s = 10;
	if (o->probe > 0 && (cfg->count > 0 || o->nsteps))
		return usage_error("%s", "--probe runs beside a timed run: no --count or --rate-steps");
	if (o->step_s > 0 && !o->nsteps)
		return usage_error("%s", "--step-duration goes with --rate-steps");
	if (o->nsteps && (cfg->rate > 0 || cfg->count > 0 || cfg->session > 0 || o->until_ci > 0 || o->hlog ||
			  o->hgrm || o->rtt_log || o->intervals_csv))
		return usage_error("%s", "--rate-steps sets the rate of each step: no --rate, --count, --session, "
					 "--until-ci, --hlog, --hgrm, --rtt-log or --intervals-csv with it");
	if (o->until_ci > 0 && (cfg->count > 0 || cfg->spawn || cfg->processes))
		return usage_error("%s", "--until-ci ends a timed run of threads: no --count, --spawn or --processes");
	if (cfg->spawn && cfg->processes)
		return usage_error("%s", "--spawn and --processes exclude each other (--spawn is a process per connection)");
	if (cfg->processes > cfg->conns)
		return usage_error("--processes %d is more than the %ld connections", cfg->processes, cfg->conns);
	if (cfg->session > 0 && cfg->rate > 0)
		return usage_error("%s", "--session is the closed loop's (a connection per K messages): no --rate");
	if ((o->arrival_set || o->seed_set) && cfg->rate <= 0)
		return usage_error("%s", "--arrival and --seed are the open loop's: they need --rate R");
	if (o->seed_set && !cfg->poisson)
		return usage_error("%s", "--seed is for --arrival poisson");
	if (cfg->nbinds > 0 && cfg->spawn)
		return usage_error("%s", "--bind is for the event loops, not --spawn");
	if (cfg->pin && cfg->spawn)
		return usage_error("%s", "--pin places the event loops: not with --spawn");
	return 0;
}

/* This run's share of a shared one (--segment, --segments, or the
 * launcher's environment): its connections. Returns 0 or 2. */
static int apply_segment(struct options *o)
{
	struct el_load_cfg *cfg = &o->cfg;
	if (o->seg_n == 0 && launcher_segment(o->segments, &o->seg_i, &o->seg_n, &cfg->seg_from) < 0)
		return 2;
	if (o->segments && o->seg_n == 0)
		return usage_error("%s", "--segments N is for JOB_COMPLETION_INDEX, which is not set; or give "
					 "--segment I/N");
	if (o->segments && o->seg_n && o->segments != o->seg_n)
		return usage_error("--segments %ld, but the segment is %ld/%ld", o->segments, o->seg_i, o->seg_n);
	if (o->seg_n > 0) {
		/* Shares differ by at most one connection. */
		long total = cfg->conns, share = total / o->seg_n + (o->seg_i < total % o->seg_n);
		if (share == 0)
			return usage_error("segment %ld/%ld of --conns %ld has no connection", o->seg_i, o->seg_n, total);
		cfg->conns = share;
		cfg->seg_index = (int)o->seg_i;
		cfg->seg_count = (int)o->seg_n;
	}
	/* {segment} in the output files' names. */
	const char **paths[] = {&o->json, &o->hgrm, &o->rtt_log, &o->hlog, &o->intervals_csv};
	char *bufs[] = {o->json_path, o->hgrm_path, o->rtt_path, o->hlog_path, o->intervals_path};
	for (int k = 0; k < 5; k++) {
		const char *t = *paths[k], *at = t ? strstr(t, "{segment}") : NULL;
		if (!at)
			continue;
		int w = snprintf(bufs[k], sizeof(o->json_path), "%.*s%d%s", (int)(at - t), t, cfg->seg_index,
				 at + strlen("{segment}"));
		if (w < 0 || (size_t)w >= sizeof(o->json_path) || strstr(bufs[k], "{segment}"))
			return usage_error("bad file name '%s' ({segment} once, under 1024 bytes)", t);
		*paths[k] = bufs[k];
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{"host", required_argument, NULL, 'H'}, {"port", required_argument, NULL, 'p'},
		{"conns", required_argument, NULL, 'n'}, {"threads", required_argument, NULL, 't'},
		{"spawn", no_argument, NULL, 'S'}, {"pin", no_argument, NULL, 0x10a},
		{"processes", required_argument, NULL, 0x10b},
		{"message", required_argument, NULL, 'm'}, {"size", required_argument, NULL, 's'}, {"raw", no_argument, NULL, 'r'},
		{"duration", required_argument, NULL, 'd'}, {"warmup", required_argument, NULL, 'w'},
		{"count", required_argument, NULL, 'c'}, {"rate", required_argument, NULL, 'R'},
		{"connect-rate", required_argument, NULL, 'C'}, {"timeout", required_argument, NULL, 'T'},
		{"percentiles", required_argument, NULL, 'P'}, {"json", required_argument, NULL, 'j'},
		{"hgrm", required_argument, NULL, 'g'}, {"rtt-log", required_argument, NULL, 'l'},
		{"rtt-log-all", no_argument, NULL, 'A'}, {"quiet", no_argument, NULL, 'q'},
		{"allow-invalid", no_argument, NULL, 'I'}, {"arrival", required_argument, NULL, 0x101},
		{"session", required_argument, NULL, 0x103}, {"interval", required_argument, NULL, 0x104},
		{"rate-steps", required_argument, NULL, 0x107}, {"probe", required_argument, NULL, 0x109},
		{"step-duration", required_argument, NULL, 0x108}, {"intervals-csv", required_argument, NULL, 0x105},
		{"until-ci", required_argument, NULL, 0x106}, {"seed", required_argument, NULL, 0x102},
		{"segment", required_argument, NULL, 'g' + 256}, {"segments", required_argument, NULL, 'N'},
		{"start-at", required_argument, NULL, 'a'}, {"bind", required_argument, NULL, 'b'},
		{"hlog", required_argument, NULL, 'L'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'}, {0},
	};
	struct el_load_cfg *cfg = &o->cfg;
	o->port = 1234;
	o->timeout_s = 5;
	o->seg_i = -1;
	int c, rc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (c == 'V') {
			el_version_print("echolab-load");
			exit(0);
		}
		rc = parse_run_option(c, optarg, o);
		if (rc == 1)
			rc = parse_output_option(c, optarg, o);
		if (rc == 1)
			return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		if (rc)
			return rc;
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if ((rc = check_options(o)) != 0)
		return rc;
	if (cfg->poisson && !o->seed_set) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		cfg->seed = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
	if ((rc = apply_segment(o)) != 0)
		return rc;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->port = (unsigned)o->port;
	cfg->threads = (int)(o->threads ? o->threads : cpus > 0 ? cpus : 1);
	if (cfg->threads > cfg->conns)
		cfg->threads = (int)cfg->conns;
	cfg->timeout_ms = (int)(o->timeout_s * 1000);
	return 0;
}

struct progress {
	struct el_probe *probe; /* --probe, or NULL */
	double duration_s;
	bool on;
	uint64_t last_messages;
	double last_s;
	long conns;
	/* --hlog: the log, and the window's histogram when the last interval
	 * was written, and when that was. */
	struct el_hlog hlog;
	struct el_hist *logged;
	double logged_until;
	int hlog_err;
	/* The run in intervals; --until-ci ends the load through l. */
	struct el_intervals *iv;
	bool ended;
};

/* Writes the interval since the last one to the --hlog log: the buckets
 * recorded since. */
static void log_interval(struct progress *p, const struct el_load_result *r)
{
	if (!p->hlog.f || r->window_s <= 0 || p->hlog_err)
		return;
	double end = r->window_start_unix + r->window_s;
	if (p->logged_until == 0)
		p->logged_until = r->window_start_unix;
	if (end - p->logged_until < 0.001)
		return;
	static struct el_hist delta;
	el_hist_delta(&delta, &r->hist, p->logged);
	p->hlog_err = el_hlog_interval(&p->hlog, p->logged_until, end - p->logged_until, &delta);
	p->logged_until = end;
}

static void show_progress(struct el_load *l, double elapsed, void *arg)
{
	struct progress *p = arg;
	static struct el_load_result r;
	el_load_snapshot(l, &r, true); /* one snapshot for the log, the intervals and the line */
	log_interval(p, &r);
	/* The window began: the probe starts, for what is left of it. */
	if (p->probe)
		el_probe_tick(p->probe, &r, p->duration_s);
	if (p->iv && el_intervals_update(p->iv, &r, false) && p->iv->until_ci_pct > 0 && !p->ended) {
		p->ended = true;
		el_load_end_now(l);
	}
	if (!p->on)
		return;
	double rate = elapsed > p->last_s ? (double)(r.messages - p->last_messages) / (elapsed - p->last_s) : 0;
	p->last_messages = r.messages;
	p->last_s = elapsed;
	fprintf(stderr, "\r%7.1f s  %10.0f msg/s  p99 %8.0f us  up %ld/%ld  errors %llu   ", elapsed, rate,
		el_hist_percentile(&r.hist, 99), r.up, p->conns, (unsigned long long)r.errors_total);
	fflush(stderr);
}

static void pct_name(char *buf, size_t len, double p)
{
	snprintf(buf, len, "p%g", p);
}

static void print_text(const struct options *o, const struct el_load_result *r)
{
	const struct el_load_cfg *cfg = &o->cfg;
	const struct el_stats *st = &r->hist.stats;
	char processes[48];
	snprintf(processes, sizeof(processes), "over %d process%s", cfg->processes, cfg->processes == 1 ? "" : "es");
	printf("echolab-load: %ld connection%s (%s), %s loop, %zu-byte message, %.1f s measured",
	       cfg->conns, cfg->conns == 1 ? "" : "s",
	       cfg->spawn ? "one process each" : cfg->processes ? processes : cfg->threads == 1 ? "1 thread" : "threads",
	       cfg->rate > 0 ? "open" : "closed",
	       cfg->msg_len, r->window_s);
	if (cfg->warmup_s > 0)
		printf(" after %.1f s of warm-up", cfg->warmup_s);
	if (cfg->seg_count > 0)
		printf(", segment %d/%d (%s)", cfg->seg_index, cfg->seg_count, cfg->seg_from);
	if (cfg->start_at_unix > 0)
		printf(", started %.1f ms after --start-at", r->start_late_s * 1e3);
	printf("%s\n", stop ? " (interrupted)" : "");
	printf("messages  %llu (%.1f msg/s)\n", (unsigned long long)r->messages,
	       r->window_s > 0 ? (double)r->messages / r->window_s : 0.0);
	printf("errors    %llu (", (unsigned long long)r->errors_total);
	for (int k = 0; k < EL_LOAD_NERRORS; k++)
		printf("%s%s %llu", k ? ", " : "", el_load_error_name(k), (unsigned long long)r->errors[k]);
	printf(")\n");
	if (r->offered > 0)
		printf("sends     offered %.1f msg/s, sent %.1f; lateness p50 %.0f us, p99 %.0f us; %llu later "
		       "than %.0f us, %llu never made\n",
		       r->offered, r->sent_per_s, r->late.total ? el_hist_percentile(&r->late, 50) : 0,
		       r->late.total ? el_hist_percentile(&r->late, 99) : 0, (unsigned long long)r->late_sends,
		       1e5 / cfg->rate, (unsigned long long)r->unsent);
	if (r->probe) {
		const struct el_hist *h = &r->probe->hist;
		printf("probe     %g msg/s on a connection of its own: %llu replies, RTT p50 %.0f us, p99 %.0f us, "
		       "max %.0f us%s\n",
		       r->probe_rate, (unsigned long long)r->probe->messages, h->total ? el_hist_percentile(h, 50) : 0,
		       h->total ? el_hist_percentile(h, 99) : 0, h->stats.n ? h->stats.max : 0,
		       r->probe->errors_total ? " (with errors)" : "");
	}
	if (cfg->session > 0) {
		const struct el_hist *a = &r->connect, *b = &r->first_reply;
		printf("sessions  %llu of %ld message%s (%.1f/s); connect p50 %.0f us, p99 %.0f us; to the first reply "
		       "p50 %.0f us, p99 %.0f us\n",
		       (unsigned long long)r->sessions, cfg->session, cfg->session == 1 ? "" : "s",
		       r->window_s > 0 ? (double)r->sessions / r->window_s : 0, a->total ? el_hist_percentile(a, 50) : 0,
		       a->total ? el_hist_percentile(a, 99) : 0, b->total ? el_hist_percentile(b, 50) : 0,
		       b->total ? el_hist_percentile(b, 99) : 0);
	}
	if (r->fit_n > 0)
		printf("arrivals  poisson (seed %llu): Anderson-Darling A2 %.3f on %zu gaps sent, p %.3g%s\n",
		       (unsigned long long)cfg->seed, r->fit_a2, r->fit_n, r->fit_p,
		       r->fit_p < 0.01 ? " (they do not fit the exponential)" : "");
	printf("valid     %s", r->valid ? "yes" : "NO, not measured as asked:");
	for (int i = 0; i < r->nreasons; i++)
		printf("%s %s", i ? ";" : "", r->reasons[i]);
	printf("\n");
	if (st->n == 0) {
		printf("rtt_us    none: no reply was measured\n");
		return;
	}
	printf("rtt_us    min %.0f  mean %.1f  stddev %.1f  variance %.1f  max %.0f\n",
	       st->min, st->mean, el_stats_stddev(st), el_stats_variance(st), st->max);
	printf("         ");
	for (int i = 0; i < o->npct; i++) {
		char name[32];
		pct_name(name, sizeof(name), o->pcts[i]);
		printf(" %s %.0f", name, el_hist_percentile(&r->hist, o->pcts[i]));
	}
	printf("\n");
}

static int write_json(const struct options *o, const struct el_load_result *r)
{
	FILE *f = fopen(o->json, "w");
	if (!f)
		return -errno;
	el_load_write_json(f, &o->cfg, r, o->pcts, o->npct, stop);
	return fclose(f) == 0 ? 0 : -errno;
}

/* --rate-steps: each rate in turn, open loop, in this one process; a line
 * a step, and with --json an object {"steps": [summary, ...]}. Returns
 * the exit status: 1 when a step had an error, measured nothing, or was
 * invalid (unless --allow-invalid). */
static int run_steps(struct options *o)
{
	FILE *jf = NULL;
	if (o->json && !(jf = fopen(o->json, "w"))) {
		fprintf(stderr, "echolab-load: %s: %s\n", o->json, strerror(errno));
		return 1;
	}
	if (jf)
		fputs("{\"steps\": [\n", jf);
	printf("echolab-load: %ld connection%s, %d rate steps of %.1f s (after %.1f s of warm-up each)\n",
	       o->cfg.conns, o->cfg.conns == 1 ? "" : "s", o->nsteps, o->cfg.duration_s, o->cfg.warmup_s);
	printf("%12s %12s %12s %12s %9s %9s %7s  %s\n", "rate/conn", "offered", "sent", "msgs/s", "p50 us", "p99 us",
	       "errors", "valid");
	int status = 0;
	static struct el_load_result r;
	for (int i = 0; i < o->nsteps && !stop; i++) {
		char err[256];
		o->cfg.rate = o->steps[i]; /* for the JSON's settings */
		if (el_load_step(&o->cfg, o->steps[i], NULL, NULL, &r, err, sizeof(err)) < 0) {
			fprintf(stderr, "echolab-load: step %d: %s\n", i + 1, err);
			status = 1;
			break;
		}
		printf("%12g %12.1f %12.1f %12.1f %9.0f %9.0f %7llu  %s", o->steps[i], r.offered, r.sent_per_s,
		       r.window_s > 0 ? (double)r.messages / r.window_s : 0,
		       r.hist.total ? el_hist_percentile(&r.hist, 50) : 0, r.hist.total ? el_hist_percentile(&r.hist, 99) : 0,
		       (unsigned long long)r.errors_total, r.valid ? "yes" : "NO:");
		for (int k = 0; k < r.nreasons; k++)
			printf("%s %s", k ? ";" : "", r.reasons[k]);
		printf("\n");
		fflush(stdout);
		if (jf) {
			if (i)
				fputs(",\n", jf);
			el_load_write_json(jf, &o->cfg, &r, o->pcts, o->npct, stop);
		}
		if (r.errors_total || r.messages == 0 || (!r.valid && !o->allow_invalid))
			status = 1;
	}
	if (jf) {
		fputs("]}\n", jf);
		if (fclose(jf) != 0) {
			fprintf(stderr, "echolab-load: %s: %s\n", o->json, strerror(errno));
			status = 1;
		}
	}
	return stop ? 1 : status;
}

/* The message: --message, or --size bytes of the alphabet (64 by
 * default) into a buffer for the caller to free in *owned. */
static int set_message(struct options *o, char **owned)
{
	*owned = NULL;
	if (o->message) {
		o->cfg.msg = (const uint8_t *)o->message;
		o->cfg.msg_len = strlen(o->message);
		return 0;
	}
	size_t n = o->size ? (size_t)o->size : 64;
	char *msg = malloc(n);
	if (!msg) {
		fprintf(stderr, "echolab-load: out of memory\n");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		msg[i] = (char)('a' + i % 26);
	o->cfg.msg = (const uint8_t *)msg;
	o->cfg.msg_len = n;
	*owned = msg;
	return 0;
}

static int open_rtt_log(struct options *o)
{
	if (!o->rtt_log)
		return 0;
	o->cfg.rtt_log_fd = open(o->rtt_log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	static const char header[] = "conn,seq,t_send_us,rtt_us\n";
	if (o->cfg.rtt_log_fd < 0 || write(o->cfg.rtt_log_fd, header, sizeof(header) - 1) < 0) {
		fprintf(stderr, "echolab-load: %s: %s\n", o->rtt_log, strerror(errno));
		return -1;
	}
	return 0;
}

/* The fds one process needs beside its connections (its event loop,
 * logs, standard streams, the probe). */
#define NOFILE_RESERVE 64

/* A socket per connection, and room: the hard limit, raised when allowed
 * (root) for a run past it; a run that one process (or each of
 * --processes) cannot hold is one line that says how many processes
 * would. And the signals. Returns 0, or 1 after saying why. */
static int setup_process(const struct el_load_cfg *cfg)
{
	long procs = cfg->spawn ? cfg->conns : cfg->processes ? cfg->processes : 1;
	long share = (cfg->conns + procs - 1) / procs;
	long limit = el_cli_raise_nofile(share + NOFILE_RESERVE);
	if (limit >= 0 && limit < share + NOFILE_RESERVE) {
		long room = limit > NOFILE_RESERVE ? limit - NOFILE_RESERVE : 1;
		long need = (cfg->conns + room - 1) / room;
		fprintf(stderr,
			"echolab-load: %ld connections need %ld fds in %s, over the limit of %ld fds a process has "
			"here: --processes %ld would hold them\n",
			cfg->conns, share + NOFILE_RESERVE, procs == 1 ? "one process" : "each process", limit, need);
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* What runs beside the load, for its progress callback: the probe, the
 * intervals (a timed run's; a counted one has no fixed window) and their
 * CSV, the --hlog log. Returns 0, or -1 after saying why. */
static int start_extras(const struct options *o, struct progress *p, FILE **ivcsv)
{
	static struct el_probe probe;
	static struct el_intervals iv;
	if (o->probe > 0) {
		el_probe_init(&probe, &o->cfg, o->probe);
		p->probe = &probe;
	}
	if (o->intervals_csv && !(*ivcsv = fopen(o->intervals_csv, "w"))) {
		fprintf(stderr, "echolab-load: %s: %s\n", o->intervals_csv, strerror(errno));
		return -1;
	}
	if (o->cfg.count <= 0) {
		if (el_intervals_init(&iv, o->interval_s > 0 ? o->interval_s : 1, *ivcsv, o->until_ci) < 0) {
			fprintf(stderr, "echolab-load: out of memory\n");
			return -1;
		}
		p->iv = &iv;
	}
	if (o->hlog) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		p->logged = calloc(1, sizeof(*p->logged));
		int rc = p->logged ? el_hlog_open(&p->hlog, o->hlog, (double)now.tv_sec + now.tv_nsec / 1e9) : -ENOMEM;
		if (rc < 0) {
			fprintf(stderr, "echolab-load: %s: %s\n", o->hlog, strerror(-rc));
			free(p->logged);
			p->logged = NULL;
			return -1;
		}
	}
	return 0;
}

/* The run's files after the summary: the JSON, the rest of --hlog, the
 * .hgrm, the RTT log, the intervals' CSV. Returns 1 when one could not be
 * written (each said), else 0. */
static int write_outputs(const struct options *o, struct progress *p, const struct el_load_result *r, FILE *ivcsv)
{
	int status = 0, rc;
	if (o->json && (rc = write_json(o, r)) < 0) {
		fprintf(stderr, "echolab-load: %s: %s\n", o->json, strerror(-rc));
		status = 1;
	}
	if (o->hlog) {
		log_interval(p, r); /* the rest of the window */
		int hr = p->hlog_err ? p->hlog_err : el_hlog_close(&p->hlog);
		if (p->hlog_err)
			el_hlog_close(&p->hlog);
		if (hr < 0) {
			fprintf(stderr, "echolab-load: %s: %s\n", o->hlog, strerror(-hr));
			status = 1;
		}
	}
	if (o->hgrm) {
		FILE *f = fopen(o->hgrm, "w");
		if (!f || el_hist_write_hgrm(&r->hist, f, 1000.0) < 0 || fclose(f) != 0) {
			fprintf(stderr, "echolab-load: %s: %s\n", o->hgrm, strerror(errno));
			status = 1;
		}
	}
	if (o->cfg.rtt_log_fd >= 0 && close(o->cfg.rtt_log_fd) < 0) {
		fprintf(stderr, "echolab-load: %s: %s\n", o->rtt_log, strerror(errno));
		status = 1;
	}
	if (p->iv && p->iv->csv_err) {
		fprintf(stderr, "echolab-load: %s: %s\n", o->intervals_csv, strerror(-p->iv->csv_err));
		status = 1;
	}
	if (ivcsv && fclose(ivcsv) != 0) {
		fprintf(stderr, "echolab-load: %s: %s\n", o->intervals_csv, strerror(errno));
		status = 1;
	}
	return status;
}

/* One timed or counted run: the load with its extras, the summary, the
 * files. Returns the exit status. */
static int run_once(struct options *o)
{
	char err[256];
	struct el_load *l = el_load_create(&o->cfg, err, sizeof(err));
	if (!l) {
		fprintf(stderr, "echolab-load: %s\n", err);
		return 1;
	}
	static struct progress p;
	p = (struct progress){.on = !o->quiet && isatty(STDERR_FILENO), .conns = o->cfg.conns,
			      .duration_s = o->cfg.duration_s};
	FILE *ivcsv = NULL;
	if (start_extras(o, &p, &ivcsv) < 0) {
		if (ivcsv)
			fclose(ivcsv);
		el_load_destroy(l);
		return 1;
	}
	int rc = el_load_run(l, show_progress, &p, err, sizeof(err));
	if (p.on)
		fprintf(stderr, "\r%78s\r", "");
	if (rc < 0)
		fprintf(stderr, "echolab-load: %s\n", err);
	static struct el_load_result r;
	el_load_snapshot(l, &r, false);
	if (p.probe) {
		char why[256];
		r.probe = el_probe_finish(p.probe, why, sizeof(why));
		r.probe_rate = o->probe;
		if (!r.probe)
			fprintf(stderr, "echolab-load: the probe did not run: %s\n", why);
	}
	if (p.iv) {
		el_intervals_update(p.iv, &r, true);
		r.intervals = p.iv;
	}
	/* No server: the report's every figure would be 0 and its verdict
	 * would blame the generator; one line says what happened instead. */
	if (el_load_no_server(&r)) {
		bool v6 = strchr(o->cfg.host, ':') != NULL;
		fprintf(stderr, "echolab-load: no server: every connection was refused at %s%s%s:%u "
				"(refused %llu time%s)\n",
			v6 ? "[" : "", o->cfg.host, v6 ? "]" : "", o->cfg.port,
			(unsigned long long)r.errors[EL_LOAD_REFUSED], r.errors[EL_LOAD_REFUSED] == 1 ? "" : "s");
	} else {
		print_text(o, &r);
		if (p.iv)
			el_intervals_print(p.iv, stdout);
	}
	int status = rc < 0 || r.errors_total > 0 || r.messages == 0 || (!r.valid && !o->allow_invalid) ? 1 : 0;
	if (write_outputs(o, &p, &r, ivcsv))
		status = 1;
	free(p.logged);
	if (p.iv)
		el_intervals_finish(p.iv);
	el_load_destroy(l);
	return status;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "merge") == 0)
		return el_load_merge_main(argc - 1, argv + 1);
	static struct options o = {
		.cfg = {.host = "127.0.0.1", .conns = 1, .rtt_log_fd = -1, .stop = &stop},
		.pcts = {50, 90, 99, 99.9},
		.npct = 4,
	};
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	char *msg;
	if (set_message(&o, &msg) < 0)
		return 1;
	if (open_rtt_log(&o) < 0) {
		free(msg);
		return 1;
	}
	if (setup_process(&o.cfg) != 0) {
		free(msg);
		return 1;
	}
	if (o.nsteps && o.step_s > 0)
		o.cfg.duration_s = o.step_s;
	rc = o.nsteps ? run_steps(&o) : run_once(&o);
	free(msg);
	return rc;
}
