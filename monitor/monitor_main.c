/* echolab-monitor: samples a process and all its descendants from /proc
 * into a CSV row per interval (docs/interface.md), until it exits. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "procstat.h"
#include "version.h"

#define usage_error(...) el_cli_usage("echolab-monitor", __VA_ARGS__)

static const char usage_text[] =
	"usage: echolab-monitor --pid PID [--interval SECONDS] [--out FILE]\n"
	"                       [--duration SECONDS] [--budget PCT] [--no-pss]\n"
	"                       [--epoch]\n"
	"\n"
	"Samples PID and every process and thread descending from it every\n"
	"--interval seconds (default 0.5) and writes one CSV row per sample:\n"
	"  t_s,procs,threads,cpu_user_pct,cpu_sys_pct,rss_kib,pss_kib,fds,\n"
	"  ctx_voluntary,ctx_involuntary,sys_mem_total_kib,sys_mem_used_kib,\n"
	"  sys_mem_free_kib,sys_mem_shared_kib,sys_mem_buffers_kib,\n"
	"  sys_mem_cached_kib,sys_cpu_user_pct,sys_cpu_sys_pct,sys_cpu_nice_pct,\n"
	"  sys_cpu_idle_pct,sys_cpu_iowait_pct,late_ms\n"
	"cpu_*_pct of the tree are percent of one CPU (200 = two CPUs busy);\n"
	"every figure over the real time since the last row. Samples keep to\n"
	"one schedule: a late sample is taken at once (late_ms says how late)\n"
	"and the next at the next slot; slots missed are skipped, never made\n"
	"up in a burst, and counted on stderr at the end.\n"
	"sys_cpu_* are percent of all CPUs. Waiting for I/O is idle for the tree.\n"
	"ctx_* are the switches so far of the tasks alive at the sample.\n"
	"\n"
	"  --pid PID        the process to watch (required)\n"
	"  --interval S     seconds between samples (default 0.5)\n"
	"  --out FILE       write the CSV to FILE instead of standard output\n"
	"  --duration S     stop after S seconds (default: when PID exits)\n"
	"  --budget PCT     CPU the monitor may spend, in percent of one CPU\n"
	"                   (default 0.7; 0: no limit). When a big tree's\n"
	"                   per-process details (pss_kib, fds, ctx_*) would cost\n"
	"                   more, each sample refreshes only some processes' (a\n"
	"                   new process's at once, then those whose RSS moved,\n"
	"                   then the others in turn) and keeps the rest's last\n"
	"                   figures; it says so on stderr at the end, with how\n"
	"                   old they got\n"
	"  --no-pss         skip smaps_rollup (PSS), the costly part on big trees\n"
	"  --epoch          t_s in seconds since the Unix epoch (wall clock), not\n"
	"                   since the monitor started: for echolab-bench\n"
	"                   --target-monitor, the CSV of another machine's server\n"
	"  --help           this text\n"
	"  --version        the version, and the git checkout it was built from\n"
	"\n"
	"Stops when PID exits, at --duration, or on SIGINT/SIGTERM, with every\n"
	"row written. Exit 0, 1 when PID does not exist, 2 on bad usage.\n"
	"It runs at real-time priority (SCHED_FIFO) when allowed, else nice -10,\n"
	"so that a loaded machine does not delay its samples.\n";

static volatile sig_atomic_t stop;

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Seconds: more than 0, at most 1e7. */
static bool parse_seconds(const char *s, double *out)
{
	double v;
	if (!el_cli_parse_num(s, 0, 1e7, &v) || v <= 0)
		return false;
	*out = v;
	return true;
}

/* The command line. */
struct options {
	long pid;
	double interval, duration, budget;
	const char *out;
	bool pss, epoch;
};

/* The options' ids (cli.h: an enum from EL_CLI_OPT_FIRST). */
enum {
	O_PID = EL_CLI_OPT_FIRST, O_INTERVAL, O_OUT, O_DURATION, O_BUDGET, O_NO_PSS, O_EPOCH, O_HELP, O_VERSION,
};

/* Parses argv into o. Returns -1 to go on, or the exit status (0 after
 * --help or --version, 2 after a usage error). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, O_PID}, {"interval", required_argument, NULL, O_INTERVAL},
		{"out", required_argument, NULL, O_OUT}, {"duration", required_argument, NULL, O_DURATION},
		{"budget", required_argument, NULL, O_BUDGET}, {"no-pss", no_argument, NULL, O_NO_PSS},
		{"epoch", no_argument, NULL, O_EPOCH}, {"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION}, {0},
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_PID:
			if (!el_cli_parse_long(optarg, 1, 4194304, &o->pid))
				return usage_error("bad --pid '%s'", optarg);
			break;
		case O_INTERVAL:
			if (!parse_seconds(optarg, &o->interval) || o->interval < 0.01)
				return usage_error("bad --interval '%s' (seconds, at least 0.01)", optarg);
			break;
		case O_OUT: o->out = optarg; break;
		case O_DURATION:
			if (!parse_seconds(optarg, &o->duration))
				return usage_error("bad --duration '%s'", optarg);
			break;
		case O_BUDGET:
			if (!el_cli_parse_num(optarg, 0, 100, &o->budget))
				return usage_error("bad --budget '%s' (percent of one CPU, 0 to 100)", optarg);
			break;
		case O_NO_PSS: o->pss = false; break;
		case O_EPOCH: o->epoch = true; break;
		case O_HELP: fputs(usage_text, stdout); return 0;
		case O_VERSION: el_version_print("echolab-monitor"); return 0;
		default: return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (o->pid == 0)
		return usage_error("%s", "--pid is required");
	return -1;
}

/* The sampling loop: a row per slot of the schedule until --duration,
 * the process's exit or a signal. Returns 0 or 1; the slots missed, the
 * worst lateness and the oldest details into the rest. */
static int sample_loop(struct el_monitor *m, FILE *f, const struct options *o, long *missed, double *worst_ms,
		       long *oldest)
{
	/* The schedule starts at the sampler's own t_s = 0, so that a row's
	 * slot is t_s - late_ms. Slot k is due at t0 + k * step; the last
	 * slot is that of --duration. */
	int64_t t0 = m->t0_us * 1000, step_ns = (int64_t)llround(o->interval * 1e9);
	/* --epoch: the wall clock at the sampler's t_s = 0, added to t_s. */
	double t0_epoch = 0;
	if (o->epoch) {
		struct timespec rt;
		clock_gettime(CLOCK_REALTIME, &rt);
		t0_epoch = (double)rt.tv_sec + rt.tv_nsec / 1e9 - (double)(mono_ns() - t0) / 1e9;
	}
	long slot = 0, limit = o->duration > 0 ? (long)floor(o->duration / o->interval) : -1;
	while (!stop && (limit < 0 || slot <= limit)) {
		struct el_proc_sample s;
		int r = el_monitor_sample(m, &s);
		if (r == -ESRCH)
			return 0; /* the process exited: done */
		if (r < 0) {
			fprintf(stderr, "echolab-monitor: sampling: %s\n", strerror(-r));
			return 1;
		}
		/* From the sample's own time, so that t_s - late_ms is its slot
		 * even when the sampler was held up between two clock reads (a
		 * stop there once gave a row t_s 2.5 s, late 0 ms, for slot 4,
		 * and the next row the same slot). */
		double late_ms = s.t_s * 1e3 - (double)slot * (double)step_ns / 1e6;
		s.late_ms = late_ms > 0 ? late_ms : 0;
		*worst_ms = s.late_ms > *worst_ms ? s.late_ms : *worst_ms;
		s.t_s += t0_epoch;
		el_monitor_write_row(f, &s);
		*oldest = s.detail_age > *oldest ? s.detail_age : *oldest;
		/* A row per sample on disk at once: nothing lost on a kill. */
		if (fflush(f) != 0) {
			fprintf(stderr, "echolab-monitor: writing: %s\n", strerror(errno));
			return 1;
		}
		/* The next slot still ahead. A sample held up for seconds (the
		 * kernel made it wait for a lock, docs/decisions.md) once made up
		 * the slots it missed in a burst 3 ms apart, each row's CPU over
		 * those 3 ms. */
		long next = slot + 1, due = (long)((mono_ns() - t0) / step_ns) + 1;
		if (due > next) {
			*missed += due - next;
			next = due;
		}
		slot = next;
		int64_t at = t0 + slot * step_ns;
		struct timespec ts = {.tv_sec = (time_t)(at / 1000000000), .tv_nsec = (long)(at % 1000000000)};
		while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {.interval = 0.5, .budget = 0.7, .pss = true};
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	struct el_monitor m;
	if (el_monitor_init(&m, (pid_t)o.pid) < 0) {
		fprintf(stderr, "echolab-monitor: no process %ld\n", o.pid);
		return 1;
	}
	m.pss = o.pss;
	m.detail_budget_us = (int64_t)llround(o.budget / 100.0 * o.interval * 1e6);
	/* One fd held per process of the tree: allow as many as we may. */
	el_cli_raise_nofile(0);
	FILE *f = stdout;
	if (o.out && !(f = fopen(o.out, "w"))) {
		fprintf(stderr, "echolab-monitor: %s: %s\n", o.out, strerror(errno));
		el_monitor_destroy(&m);
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	el_monitor_write_header(f);
	fflush(f);
	el_monitor_prioritize();
	long missed = 0, oldest = 0;
	double worst_ms = 0;
	rc = sample_loop(&m, f, &o, &missed, &worst_ms, &oldest);
	el_monitor_destroy(&m);
	if (missed > 0)
		fprintf(stderr,
			"echolab-monitor: %ld sampling slot%s missed: a sample came late (the latest by "
			"%.0f ms) and the schedule went on from the next slot\n",
			missed, missed == 1 ? "" : "s", worst_ms);
	if (oldest > 0)
		fprintf(stderr,
			"echolab-monitor: within --budget %g%%, samples refreshed only some processes' "
			"pss_kib, fds and ctx_* (a new process's at once): the oldest figures kept were "
			"%ld samples old\n",
			o.budget, oldest);
	if (f != stdout && fclose(f) != 0) {
		fprintf(stderr, "echolab-monitor: %s: %s\n", o.out, strerror(errno));
		rc = 1;
	}
	return rc;
}
