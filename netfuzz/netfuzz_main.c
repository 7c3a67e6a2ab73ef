/* echolab-netfuzz: the network fuzzer (netfuzz.h) as a program, for long
 * runs and for replaying one connection of a failed run. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "netfuzz.h"
#include "traits.h"
#include "version.h"

#define bad(what, arg) el_cli_usage("echolab-netfuzz", "bad %s: '%s'", what, arg)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static const char usage_text[] =
	"usage: echolab-netfuzz --server PATH [--model M|all] [options]\n"
	"       echolab-netfuzz --port N [--host H] [options]\n"
	"\n"
	"Sends random and mutated byte streams over many connections at once and\n"
	"checks every reply against the echolab protocol. With --server it starts\n"
	"echolab-server for each model, warms it up, and checks that it survives,\n"
	"stops cleanly, and returns to its baseline processes, threads, fds and\n"
	"RSS; with --port it fuzzes a server that is already running.\n"
	"\n"
	"  --server PATH       the echolab-server to start\n"
	"  --model M           a model, or all (default) for every --list-models one\n"
	"  --host H --port N   a running server instead (default host 127.0.0.1)\n"
	"  --seed S            the streams' seed (default: from the clock; printed)\n"
	"  --duration S        seconds of fuzzing per model (default 10)\n"
	"  --warmup S          seconds before the baseline is taken (default 2)\n"
	"  --connections N     at most N connections per run (default: no limit)\n"
	"  --parallel N        connections open at once (default 64; 8 for iterative)\n"
	"  --max-line N        the server's --max-line (default 8192)\n"
	"  --conn K            replay connection K of the seed alone\n"
	"  --stall-ms MS       a connection without progress this long fails (10000)\n"
	"  --preload LIB       LD_PRELOAD for the server (the fault shim)\n"
	"  --quiet             no progress lines\n"
	"  --help              this text\n"
	"  --version           the version, and the git checkout it was built from\n"
	"\n"
	"Exit status: 0 every model passed, 1 a failure, 2 bad usage.\n";

static void print_result(const char *label, const struct el_nf_result *r, double secs)
{
	printf("%s: %ld connections (%ld fin, %ld fin after a partial line, %ld reset, %ld unread), "
	       "%ld messages, %ld replies checked (%ld line-too-long), %.1f MiB sent, %.1f MiB "
	       "received, %.0f connections/s\n",
	       label, r->connections, r->fin, r->fin_partial, r->reset, r->unread, r->messages,
	       r->replies, r->too_long, (double)r->bytes_sent / 1048576,
	       (double)r->bytes_received / 1048576, secs > 0 ? (double)r->connections / secs : 0);
}

/* The command that replays a failed connection of this run, its --seed
 * and --conn aside, into out: this program with the server (--server and
 * --model, or --host and --port) and what shapes the streams. */
static void replay_command(const char *self, const struct el_nf_session_opts *so, const char *server,
			   const char *model, char *out, size_t len)
{
	char port[16], max_line[32], stall[32];
	snprintf(port, sizeof(port), "%u", so->fuzz.port);
	snprintf(max_line, sizeof(max_line), "%zu", so->fuzz.max_line);
	snprintf(stall, sizeof(stall), "%d", so->fuzz.stall_ms);
	char *w[14];
	int n = 0;
	w[n++] = (char *)self;
	if (server) {
		w[n++] = "--server";
		w[n++] = (char *)server;
		w[n++] = "--model";
		w[n++] = (char *)model;
		if (so->preload) {
			w[n++] = "--preload";
			w[n++] = (char *)so->preload;
		}
	} else {
		if (strcmp(so->fuzz.host, "127.0.0.1") != 0) {
			w[n++] = "--host";
			w[n++] = (char *)so->fuzz.host;
		}
		w[n++] = "--port";
		w[n++] = port;
	}
	if (so->fuzz.max_line != 8192) {
		w[n++] = "--max-line";
		w[n++] = max_line;
	}
	if (so->fuzz.stall_ms != 10000) {
		w[n++] = "--stall-ms";
		w[n++] = stall;
	}
	el_cli_shell_line(out, len, n, w);
}

static int run_models(const char *self, const char *server, const char *model, struct el_nf_session_opts *so,
		      int parallel, bool quiet)
{
	/* all: what the server lists, in its order; a model's traits (a
	 * sequential one serves 8 streams at once, not 64) from the list. */
	struct el_model_info list[16];
	char why[200];
	int listed = el_models_list(server, list, 16, why, sizeof(why));
	const char *models[17] = {model, NULL};
	if (strcmp(model, "all") == 0) {
		if (listed < 0) {
			fprintf(stderr, "echolab-netfuzz: %s\n", why);
			return 1;
		}
		for (int i = 0; i < listed; i++)
			models[i] = list[i].name;
		models[listed] = NULL;
	}
	int failed = 0, passed = 0, skipped = 0;
	for (const char **m = models; *m && !stop; m++) {
		so->server = server;
		so->model = *m;
		char replay[2048];
		replay_command(self, so, server, *m, replay, sizeof(replay));
		so->fuzz.replay = replay;
		const struct el_model_info *info = listed > 0 ? el_models_find(list, listed, *m) : NULL;
		so->fuzz.parallel = parallel ? parallel : info && (info->traits & EL_TRAIT_SEQUENTIAL) ? 8 : 64;
		so->fuzz.progress = quiet ? NULL : stderr;
		struct el_nf_session s;
		int rc = el_nf_session(so, &s);
		if (rc == -EOPNOTSUPP) {
			printf("%s: skipped: %s\n", *m, s.why);
			skipped++;
			continue;
		}
		if (rc < 0) {
			printf("%s: FAILED: %s\n", *m, s.why);
			failed++;
			continue;
		}
		char label[64];
		snprintf(label, sizeof(label), "%s: %s", *m,
			 !s.ok ? "FAILED" : stop ? "interrupted, no failure so far" : "ok");
		print_result(label, &s.run, so->fuzz.duration_s);
		printf("%s: server: processes %ld, threads %ld, fds %ld, RSS %ld KiB at the baseline; "
		       "%ld, %ld, %ld, %ld KiB after\n",
		       *m, s.baseline.procs, s.baseline.threads, s.baseline.fds, s.baseline.rss_kib,
		       s.after.procs, s.after.threads, s.after.fds, s.after.rss_kib);
		if (!s.ok) {
			printf("%s: %s\n", *m, s.why);
			failed++;
		} else {
			passed++;
		}
		fflush(stdout);
	}
	printf("netfuzz: %d passed, %d failed, %d skipped%s\n", passed, failed, skipped,
	       stop ? "; interrupted (the last model's figures are up to the interruption)" : "");
	return failed ? 1 : stop ? 130 : 0;
}

/* The command line beyond the session's options. */
struct args {
	const char *server, *model;
	int parallel;
	bool quiet, have_port;
};

enum { O_SERVER = EL_CLI_OPT_FIRST, O_MODEL, O_HOST, O_PORT, O_SEED, O_DURATION, O_WARMUP, O_CONNS, O_PARALLEL, O_MAXLINE,
       O_CONN, O_STALL, O_PRELOAD, O_QUIET, O_HELP, O_VERSION };

/* The options with a number into so and a. Returns 0 or 2. */
static int parse_number_option(int c, const char *arg, struct el_nf_session_opts *so, struct args *a)
{
	double v;
	switch (c) {
	case O_PORT:
		if (!el_cli_parse_num(arg, 1, 65535, &v))
			return bad("--port", arg);
		so->fuzz.port = (unsigned)v;
		a->have_port = true;
		return 0;
	case O_SEED: {
		char *end;
		errno = 0;
		so->fuzz.seed = strtoull(arg, &end, 10);
		return errno || end == arg || *end ? bad("--seed", arg) : 0;
	}
	case O_DURATION:
		return el_cli_parse_num(arg, 0.1, 1e6, &so->fuzz.duration_s) ? 0 : bad("--duration", arg);
	case O_WARMUP: return el_cli_parse_num(arg, 0, 1e6, &so->warmup_s) ? 0 : bad("--warmup", arg);
	case O_CONNS:
		if (!el_cli_parse_num(arg, 1, 1e12, &v))
			return bad("--connections", arg);
		so->fuzz.connections = (long)v;
		return 0;
	case O_PARALLEL:
		if (!el_cli_parse_num(arg, 1, 10000, &v))
			return bad("--parallel", arg);
		a->parallel = (int)v;
		return 0;
	case O_MAXLINE:
		if (!el_cli_parse_num(arg, 1, 1048576, &v))
			return bad("--max-line", arg);
		so->fuzz.max_line = (size_t)v;
		return 0;
	case O_CONN:
		if (!el_cli_parse_num(arg, 0, 1e12, &v))
			return bad("--conn", arg);
		so->fuzz.only = (long)v;
		return 0;
	default: /* O_STALL */
		if (!el_cli_parse_num(arg, 1, 1e7, &v))
			return bad("--stall-ms", arg);
		so->fuzz.stall_ms = (int)v;
		return 0;
	}
}

/* Parses argv into so and a. Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, struct el_nf_session_opts *so, struct args *a)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, O_SERVER},     {"model", required_argument, NULL, O_MODEL},
		{"host", required_argument, NULL, O_HOST},         {"port", required_argument, NULL, O_PORT},
		{"seed", required_argument, NULL, O_SEED},         {"duration", required_argument, NULL, O_DURATION},
		{"warmup", required_argument, NULL, O_WARMUP},     {"connections", required_argument, NULL, O_CONNS},
		{"parallel", required_argument, NULL, O_PARALLEL}, {"max-line", required_argument, NULL, O_MAXLINE},
		{"conn", required_argument, NULL, O_CONN},         {"stall-ms", required_argument, NULL, O_STALL},
		{"preload", required_argument, NULL, O_PRELOAD},   {"quiet", no_argument, NULL, O_QUIET},
		{"help", no_argument, NULL, O_HELP},               {"version", no_argument, NULL, O_VERSION},
		{0},
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int rc;
		switch (c) {
		case O_SERVER: a->server = optarg; break;
		case O_MODEL: a->model = optarg; break;
		case O_HOST: so->fuzz.host = optarg; break;
		case O_PRELOAD: so->preload = optarg; break;
		case O_QUIET: a->quiet = true; break;
		case O_HELP: fputs(usage_text, stdout); return 0;
		case O_VERSION: el_version_print("echolab-netfuzz"); return 0;
		case O_PORT:
		case O_SEED:
		case O_DURATION:
		case O_WARMUP:
		case O_CONNS:
		case O_PARALLEL:
		case O_MAXLINE:
		case O_CONN:
		case O_STALL:
			if ((rc = parse_number_option(c, optarg, so, a)) != 0)
				return rc;
			break;
		default: return bad("or incomplete option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("argument", argv[optind]);
	if (!a->server == !a->have_port) {
		fprintf(stderr, "echolab-netfuzz: give --server PATH or --port N, one of them (see --help)\n");
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct el_nf_session_opts so;
	el_nf_session_defaults(&so);
	so.fuzz.duration_s = 10;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	so.fuzz.seed = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
	so.fuzz.seed %= 1000000000000ULL; /* short enough to type */
	struct args a = {.model = "all"};
	int rc = parse_args(argc, argv, &so, &a);
	if (rc >= 0)
		return rc;
	printf("netfuzz: seed %llu (replay with --seed %llu)\n", (unsigned long long)so.fuzz.seed,
	       (unsigned long long)so.fuzz.seed);
	fflush(stdout);
	if (so.fuzz.only >= 0)
		so.warmup_s = 0; /* a replay is the one connection, nothing before it */
	/* Ctrl-C ends the run, stops the server and prints what was checked. */
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	so.fuzz.stop = &stop;

	if (a.server)
		return run_models(argv[0], a.server, a.model, &so, a.parallel, a.quiet);
	char replay[2048];
	replay_command(argv[0], &so, NULL, NULL, replay, sizeof(replay));
	so.fuzz.replay = replay;

	so.fuzz.parallel = a.parallel ? a.parallel : 64;
	so.fuzz.progress = a.quiet ? NULL : stderr;
	struct el_nf_result r;
	rc = el_nf_run(&so.fuzz, &r);
	if (rc < 0) {
		fprintf(stderr, "echolab-netfuzz: %s\n", r.first);
		return 1;
	}
	print_result(r.failures ? "FAILED" : "ok", &r, so.fuzz.duration_s);
	if (r.failures)
		printf("%ld connections broke the protocol; the first: %s\n", r.failures, r.first);
	return r.failures ? 1 : stop ? 130 : 0;
}
