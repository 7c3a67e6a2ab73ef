/* echolab-load: a closed- or open-loop load generator for echo servers
 * that checks every reply and reports RTT percentiles (docs/interface.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load.h"

static const char usage_text[] =
	"usage: echolab-load [--host H] [--port N] [--conns N] [--threads T]\n"
	"                    [--message M | --size BYTES] [--raw]\n"
	"                    [--duration S] [--warmup S] [--count K] [--rate R]\n"
	"                    [--connect-rate R] [--timeout S] [--spawn]\n"
	"                    [--percentiles LIST] [--json FILE] [--hgrm FILE]\n"
	"                    [--rtt-log FILE [--rtt-log-all]] [--quiet]\n"
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
	"  --conns N          concurrent connections, 1 to 20000 (default 1)\n"
	"  --threads T        event loops (default: one per CPU, at most N)\n"
	"  --spawn            one process per connection instead, as the lab's\n"
	"                     shell script ran its clients\n"
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
	"  --rtt-log FILE     write conn,seq,t_send_us,rtt_us of every reply of the\n"
	"                     first connection (t_send_us from the start)\n"
	"  --rtt-log-all      ... of every connection\n"
	"  --quiet            no progress line (there is none when standard error\n"
	"                     is not a terminal)\n"
	"  --help             this text\n"
	"\n"
	"Ctrl-C ends the run early and prints what was measured so far.\n"
	"Exit 0 when replies were measured and there was no error, 1 otherwise,\n"
	"2 on bad usage.\n";

#define MAX_PCT 16

struct options {
	struct el_load_cfg cfg;
	double pcts[MAX_PCT];
	int npct;
	const char *json, *hgrm, *rtt_log;
	bool quiet;
	long size;
	const char *message;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
	/* A second Ctrl-C ends the program at once. */
	signal(sig, SIG_DFL);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "echolab-load: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see --help)\n");
	return 2;
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool parse_pcts(const char *s, struct options *o)
{
	o->npct = 0;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		double v;
		if (o->npct == MAX_PCT || !parse_num(t, 0, 100, &v))
			return false;
		o->pcts[o->npct++] = v;
	}
	return o->npct > 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'p'},
		{"conns", required_argument, NULL, 'n'},
		{"threads", required_argument, NULL, 't'},
		{"spawn", no_argument, NULL, 'S'},
		{"message", required_argument, NULL, 'm'},
		{"size", required_argument, NULL, 's'},
		{"raw", no_argument, NULL, 'r'},
		{"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"count", required_argument, NULL, 'c'},
		{"rate", required_argument, NULL, 'R'},
		{"connect-rate", required_argument, NULL, 'C'},
		{"timeout", required_argument, NULL, 'T'},
		{"percentiles", required_argument, NULL, 'P'},
		{"json", required_argument, NULL, 'j'},
		{"hgrm", required_argument, NULL, 'g'},
		{"rtt-log", required_argument, NULL, 'l'},
		{"rtt-log-all", no_argument, NULL, 'A'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct el_load_cfg *cfg = &o->cfg;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long threads = 0, port = 1234;
	double timeout = 5;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			cfg->host = optarg;
			break;
		case 'p':
			if (!parse_long(optarg, 1, 65535, &port))
				return usage_error("bad --port '%s' (1 to 65535)", optarg);
			break;
		case 'n':
			if (!parse_long(optarg, 1, 20000, &cfg->conns))
				return usage_error("bad --conns '%s' (1 to 20000)", optarg);
			break;
		case 't':
			if (!parse_long(optarg, 1, 256, &threads))
				return usage_error("bad --threads '%s' (1 to 256)", optarg);
			break;
		case 'S':
			cfg->spawn = true;
			break;
		case 'm':
			o->message = optarg;
			break;
		case 's':
			if (!parse_long(optarg, 1, 65536, &o->size))
				return usage_error("bad --size '%s' (1 to 65536)", optarg);
			break;
		case 'r':
			cfg->raw = true;
			break;
		case 'd':
			if (!parse_num(optarg, 0.001, 1e6, &cfg->duration_s))
				return usage_error("bad --duration '%s' (seconds)", optarg);
			break;
		case 'w':
			if (!parse_num(optarg, 0, 1e6, &cfg->warmup_s))
				return usage_error("bad --warmup '%s' (seconds)", optarg);
			break;
		case 'c':
			if (!parse_long(optarg, 1, 1000000000L, &cfg->count))
				return usage_error("bad --count '%s'", optarg);
			break;
		case 'R':
			if (!parse_num(optarg, 0.001, 1e6, &cfg->rate))
				return usage_error("bad --rate '%s' (messages/s per connection)", optarg);
			break;
		case 'C':
			if (!parse_num(optarg, 0.001, 1e7, &cfg->connect_rate))
				return usage_error("bad --connect-rate '%s' (connections/s)", optarg);
			break;
		case 'T':
			if (!parse_num(optarg, 0.001, 3600, &timeout))
				return usage_error("bad --timeout '%s' (seconds)", optarg);
			break;
		case 'P':
			if (!parse_pcts(optarg, o))
				return usage_error("bad --percentiles '%s' (e.g. 50,99,99.9)", optarg);
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'g':
			o->hgrm = optarg;
			break;
		case 'l':
			o->rtt_log = optarg;
			break;
		case 'A':
			cfg->rtt_log_all = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
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
	cfg->port = (unsigned)port;
	cfg->threads = (int)(threads ? threads : cpus > 0 ? cpus : 1);
	if (cfg->threads > cfg->conns)
		cfg->threads = (int)cfg->conns;
	cfg->timeout_ms = (int)(timeout * 1000);
	return 0;
}

struct progress {
	bool on;
	uint64_t last_messages;
	double last_s;
	long conns;
};

static void show_progress(struct el_load *l, double elapsed, void *arg)
{
	struct progress *p = arg;
	if (!p->on)
		return;
	static struct el_load_result r;
	el_load_result(l, &r, true);
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
	printf("echolab-load: %ld connection%s (%s), %s loop, %zu-byte message, %.1f s measured",
	       cfg->conns, cfg->conns == 1 ? "" : "s",
	       cfg->spawn ? "one process each" : cfg->threads == 1 ? "1 thread" : "threads", cfg->rate > 0 ? "open" : "closed",
	       cfg->msg_len, r->window_s);
	if (cfg->warmup_s > 0)
		printf(" after %.1f s of warm-up", cfg->warmup_s);
	printf("%s\n", stop ? " (interrupted)" : "");
	printf("messages  %llu (%.1f msg/s)\n", (unsigned long long)r->messages,
	       r->window_s > 0 ? (double)r->messages / r->window_s : 0.0);
	printf("errors    %llu (", (unsigned long long)r->errors_total);
	for (int k = 0; k < EL_LOAD_NERRORS; k++)
		printf("%s%s %llu", k ? ", " : "", el_load_error_name(k), (unsigned long long)r->errors[k]);
	printf(")\n");
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

int main(int argc, char **argv)
{
	struct options o = {
		.cfg = {.host = "127.0.0.1", .conns = 1, .rtt_log_fd = -1, .stop = &stop},
		.pcts = {50, 90, 99, 99.9},
		.npct = 4,
	};
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	char *msg = NULL;
	if (o.message) {
		o.cfg.msg = (const uint8_t *)o.message;
		o.cfg.msg_len = strlen(o.message);
	} else {
		size_t n = o.size ? (size_t)o.size : 64;
		msg = malloc(n);
		if (!msg) {
			fprintf(stderr, "echolab-load: out of memory\n");
			return 1;
		}
		for (size_t i = 0; i < n; i++)
			msg[i] = (char)('a' + i % 26);
		o.cfg.msg = (const uint8_t *)msg;
		o.cfg.msg_len = n;
	}
	if (o.rtt_log) {
		o.cfg.rtt_log_fd = open(o.rtt_log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
		if (o.cfg.rtt_log_fd < 0) {
			fprintf(stderr, "echolab-load: %s: %s\n", o.rtt_log, strerror(errno));
			return 1;
		}
		static const char header[] = "conn,seq,t_send_us,rtt_us\n";
		if (write(o.cfg.rtt_log_fd, header, sizeof(header) - 1) < 0) {
			fprintf(stderr, "echolab-load: %s: %s\n", o.rtt_log, strerror(errno));
			return 1;
		}
	}
	char err[256];
	struct el_load *l = el_load_create(&o.cfg, err, sizeof(err));
	if (!l) {
		fprintf(stderr, "echolab-load: %s\n", err);
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct progress p = {.on = !o.quiet && isatty(STDERR_FILENO), .conns = o.cfg.conns};
	rc = el_load_run(l, show_progress, &p, err, sizeof(err));
	if (p.on)
		fprintf(stderr, "\r%78s\r", "");
	if (rc < 0)
		fprintf(stderr, "echolab-load: %s\n", err);
	static struct el_load_result r;
	el_load_result(l, &r, false);
	print_text(&o, &r);
	int status = rc < 0 || r.errors_total > 0 || r.messages == 0 ? 1 : 0;
	if (o.json && (rc = write_json(&o, &r)) < 0) {
		fprintf(stderr, "echolab-load: %s: %s\n", o.json, strerror(-rc));
		status = 1;
	}
	if (o.hgrm) {
		FILE *f = fopen(o.hgrm, "w");
		if (!f || el_hist_write_hgrm(&r.hist, f, 1000.0) < 0 || fclose(f) != 0) {
			fprintf(stderr, "echolab-load: %s: %s\n", o.hgrm, strerror(errno));
			status = 1;
		}
	}
	if (o.cfg.rtt_log_fd >= 0 && close(o.cfg.rtt_log_fd) < 0) {
		fprintf(stderr, "echolab-load: %s: %s\n", o.rtt_log, strerror(errno));
		status = 1;
	}
	el_load_destroy(l);
	free(msg);
	return status;
}
