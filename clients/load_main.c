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
#include "load_args.h"
#include "probe.h"
#include "merge.h"
#include "version.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
	/* A second Ctrl-C ends the program at once. */
	signal(sig, SIG_DFL);
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

static void print_text(const struct el_load_options *o, const struct el_load_result *r)
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
		       "than %.0f us, %llu early within it, %llu never made\n",
		       r->offered, r->sent_per_s, r->late.total ? el_hist_percentile(&r->late, 50) : 0,
		       r->late.total ? el_hist_percentile(&r->late, 99) : 0, (unsigned long long)r->late_sends,
		       1e5 / cfg->rate, (unsigned long long)r->early_sends, (unsigned long long)r->unsent);
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

static int write_json(const struct el_load_options *o, const struct el_load_result *r)
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
static int run_steps(struct el_load_options *o)
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
static int set_message(struct el_load_options *o, char **owned)
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

static int open_rtt_log(struct el_load_options *o)
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
static int start_extras(const struct el_load_options *o, struct progress *p, FILE **ivcsv)
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
static int write_outputs(const struct el_load_options *o, struct progress *p, const struct el_load_result *r, FILE *ivcsv)
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
static int run_once(struct el_load_options *o)
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
	static struct el_load_options o = {
		.cfg = {.host = "127.0.0.1", .conns = 1, .rtt_log_fd = -1, .stop = &stop},
		.pcts = {50, 90, 99, 99.9},
		.npct = 4,
	};
	int rc = el_load_parse_args(argc, argv, &o);
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
