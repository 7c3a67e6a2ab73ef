/* echolab-load's command line: the usage, the option groups' parsers,
 * the checks of what does not go together, and a launcher's segment. */
#include "load_args.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
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


static bool parse_pcts(const char *s, struct el_load_options *o)
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
/* The options' ids (cli.h: an enum from EL_CLI_OPT_FIRST). */
enum {
	O_HOST = EL_CLI_OPT_FIRST, O_PORT, O_CONNS, O_THREADS, O_SPAWN, O_PIN, O_PROCESSES, O_MESSAGE, O_SIZE, O_RAW,
	O_DURATION, O_WARMUP, O_COUNT, O_RATE, O_CONNECT_RATE, O_TIMEOUT, O_PERCENTILES, O_JSON, O_HGRM, O_RTT_LOG,
	O_RTT_LOG_ALL, O_QUIET, O_ALLOW_INVALID, O_ARRIVAL, O_SESSION, O_INTERVAL, O_RATE_STEPS, O_PROBE,
	O_STEP_DURATION, O_INTERVALS_CSV, O_UNTIL_CI, O_SEED, O_SEGMENT, O_SEGMENTS, O_START_AT, O_BIND, O_HLOG,
	O_HELP, O_VERSION,
};

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

static int parse_binds(const char *s, struct el_load_options *o)
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
static int parse_steps(const char *arg, struct el_load_options *o)
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
static int parse_seed(const char *arg, struct el_load_options *o)
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
static int parse_run_option(int c, const char *arg, struct el_load_options *o)
{
	struct el_load_cfg *cfg = &o->cfg;
	switch (c) {
	case O_HOST: cfg->host = arg; return 0;
	case O_PORT:
		return el_cli_parse_long(arg, 1, 65535, &o->port) ? 0 : usage_error("bad --port '%s' (1 to 65535)", arg);
	case O_CONNS:
		return el_cli_parse_long(arg, 1, EL_LOAD_MAX_CONNS, &cfg->conns) ? 0
			: usage_error("bad --conns '%s' (1 to %d)", arg, EL_LOAD_MAX_CONNS);
	case O_THREADS:
		return el_cli_parse_long(arg, 1, 256, &o->threads) ? 0 : usage_error("bad --threads '%s' (1 to 256)", arg);
	case O_SPAWN: cfg->spawn = true; return 0;
	case O_PROCESSES: {
		long v;
		if (!el_cli_parse_long(arg, 1, 1024, &v))
			return usage_error("bad --processes '%s' (1 to 1024)", arg);
		cfg->processes = (int)v;
		return 0;
	}
	case O_PIN: cfg->pin = true; return 0;
	case O_MESSAGE: o->message = arg; return 0;
	case O_SIZE:
		return el_cli_parse_long(arg, 1, 65536, &o->size) ? 0 : usage_error("bad --size '%s' (1 to 65536)", arg);
	case O_RAW: cfg->raw = true; return 0;
	case O_DURATION:
		return el_cli_parse_num(arg, 0.001, 1e6, &cfg->duration_s) ? 0
			: usage_error("bad --duration '%s' (seconds)", arg);
	case O_WARMUP:
		return el_cli_parse_num(arg, 0, 1e6, &cfg->warmup_s) ? 0 : usage_error("bad --warmup '%s' (seconds)", arg);
	case O_COUNT:
		return el_cli_parse_long(arg, 1, 1000000000L, &cfg->count) ? 0 : usage_error("bad --count '%s'", arg);
	case O_RATE:
		return el_cli_parse_num(arg, 0.001, 1e6, &cfg->rate) ? 0
			: usage_error("bad --rate '%s' (messages/s per connection)", arg);
	case O_CONNECT_RATE:
		return el_cli_parse_num(arg, 0.001, 1e7, &cfg->connect_rate) ? 0
			: usage_error("bad --connect-rate '%s' (connections/s)", arg);
	case O_TIMEOUT:
		return el_cli_parse_num(arg, 0.001, 3600, &o->timeout_s) ? 0
			: usage_error("bad --timeout '%s' (seconds)", arg);
	case O_ARRIVAL:
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
	case O_SEED: return parse_seed(arg, o);
	case O_SESSION:
		return el_cli_parse_long(arg, 1, 1000000000, &cfg->session) ? 0
			: usage_error("bad --session '%s' (messages per connection, 1 or more)", arg);
	case O_RATE_STEPS: return parse_steps(arg, o);
	case O_STEP_DURATION:
		return el_cli_parse_num(arg, 0.1, 86400, &o->step_s) ? 0
			: usage_error("bad --step-duration '%s' (seconds)", arg);
	case O_PROBE:
		return el_cli_parse_num(arg, 0.1, 1e5, &o->probe) ? 0 : usage_error("bad --probe '%s' (messages/s)", arg);
	case O_BIND:
		return parse_binds(arg, o) < 0 ? usage_error("bad --bind '%s' (IP addresses separated by commas, at "
							     "most %d)", arg, MAX_BINDS) : 0;
	default: return 1;
	}
}

/* What it reports, and which part of a shared run it is. */
static int parse_output_option(int c, const char *arg, struct el_load_options *o)
{
	struct el_load_cfg *cfg = &o->cfg;
	switch (c) {
	case O_PERCENTILES:
		return parse_pcts(arg, o) ? 0 : usage_error("bad --percentiles '%s' (e.g. 50,99,99.9)", arg);
	case O_JSON: o->json = arg; return 0;
	case O_HGRM: o->hgrm = arg; return 0;
	case O_HLOG: o->hlog = arg; return 0;
	case O_RTT_LOG: o->rtt_log = arg; return 0;
	case O_RTT_LOG_ALL: cfg->rtt_log_all = true; return 0;
	case O_ALLOW_INVALID: o->allow_invalid = true; return 0;
	case O_QUIET: o->quiet = true; return 0;
	case O_INTERVAL:
		return el_cli_parse_num(arg, 1, 3600, &o->interval_s) ? 0
			: usage_error("bad --interval '%s' (1 to 3600 seconds)", arg);
	case O_INTERVALS_CSV: o->intervals_csv = arg; return 0;
	case O_UNTIL_CI:
		if (!el_cli_parse_num(arg, 0, 10000, &o->until_ci) || o->until_ci == 0)
			return usage_error("bad --until-ci '%s' (a percentage, over 0 and at most 10000)", arg);
		return 0;
	case O_SEGMENT: {
		char *slash = strchr(arg, '/');
		if (!slash || sscanf(arg, "%ld/%ld", &o->seg_i, &o->seg_n) != 2 || o->seg_n < 1 || o->seg_n > 100000 ||
		    o->seg_i < 0 || o->seg_i >= o->seg_n || strspn(arg, "0123456789/") != strlen(arg))
			return usage_error("bad --segment '%s' (I/N, 0 <= I < N)", arg);
		cfg->seg_from = "--segment";
		return 0;
	}
	case O_SEGMENTS:
		return el_cli_parse_long(arg, 1, 100000, &o->segments) ? 0
			: usage_error("bad --segments '%s' (1 to 100000)", arg);
	case O_START_AT:
		return parse_time(arg, &cfg->start_at_unix) < 0
			? usage_error("bad --start-at '%s' (seconds since the epoch, or RFC 3339 UTC such as "
				      "2026-11-30T12:00:00Z)", arg) : 0;
	default: return 1;
	}
}

/* The options that do not go together. Returns 0 or 2 after saying why. */
static int check_options(struct el_load_options *o)
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
static int apply_segment(struct el_load_options *o)
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

int el_load_parse_args(int argc, char **argv, struct el_load_options *o)
{
	static const struct option opts[] = {
		{"host", required_argument, NULL, O_HOST}, {"port", required_argument, NULL, O_PORT},
		{"conns", required_argument, NULL, O_CONNS}, {"threads", required_argument, NULL, O_THREADS},
		{"spawn", no_argument, NULL, O_SPAWN}, {"pin", no_argument, NULL, O_PIN},
		{"processes", required_argument, NULL, O_PROCESSES}, {"message", required_argument, NULL, O_MESSAGE},
		{"size", required_argument, NULL, O_SIZE}, {"raw", no_argument, NULL, O_RAW},
		{"duration", required_argument, NULL, O_DURATION}, {"warmup", required_argument, NULL, O_WARMUP},
		{"count", required_argument, NULL, O_COUNT}, {"rate", required_argument, NULL, O_RATE},
		{"connect-rate", required_argument, NULL, O_CONNECT_RATE}, {"timeout", required_argument, NULL, O_TIMEOUT},
		{"percentiles", required_argument, NULL, O_PERCENTILES}, {"json", required_argument, NULL, O_JSON},
		{"hgrm", required_argument, NULL, O_HGRM}, {"rtt-log", required_argument, NULL, O_RTT_LOG},
		{"rtt-log-all", no_argument, NULL, O_RTT_LOG_ALL}, {"quiet", no_argument, NULL, O_QUIET},
		{"allow-invalid", no_argument, NULL, O_ALLOW_INVALID}, {"arrival", required_argument, NULL, O_ARRIVAL},
		{"session", required_argument, NULL, O_SESSION}, {"interval", required_argument, NULL, O_INTERVAL},
		{"rate-steps", required_argument, NULL, O_RATE_STEPS}, {"probe", required_argument, NULL, O_PROBE},
		{"step-duration", required_argument, NULL, O_STEP_DURATION},
		{"intervals-csv", required_argument, NULL, O_INTERVALS_CSV},
		{"until-ci", required_argument, NULL, O_UNTIL_CI}, {"seed", required_argument, NULL, O_SEED},
		{"segment", required_argument, NULL, O_SEGMENT}, {"segments", required_argument, NULL, O_SEGMENTS},
		{"start-at", required_argument, NULL, O_START_AT}, {"bind", required_argument, NULL, O_BIND},
		{"hlog", required_argument, NULL, O_HLOG}, {"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION}, {0},
	};
	struct el_load_cfg *cfg = &o->cfg;
	o->port = 1234;
	o->timeout_s = 5;
	o->seg_i = -1;
	int c, rc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == O_HELP) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (c == O_VERSION) {
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

