/* One cell of the experiment: start the server, watch it, load it, stop
 * it, keep every file. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "probe.h"
#include "client.h"
#include "procstat.h"
#include "io.h"

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int bench_list_models(struct bench_cfg *cfg, char *why, size_t len)
{
	struct el_model_info list[BENCH_MAX_MODELS];
	int n = el_models_list(cfg->server, list, BENCH_MAX_MODELS, why, len);
	cfg->nmodels = n > 0 ? n : 0;
	for (int i = 0; i < cfg->nmodels; i++) {
		snprintf(cfg->models[i], sizeof(cfg->models[i]), "%.31s", list[i].name);
		cfg->traits[i] = list[i].traits;
	}
	return n;
}

/* Starts echolab-server for a cell in its own process group, its output
 * and error in the cell's files (err_path also receives the ready line),
 * with --model, --port 0 and the extra arguments (NULL-terminated); waits
 * for the ready line. Returns 0 or -errno with the reason in why. */
int bench_server_start_model(const struct bench_cfg *cfg, const char *model, struct el_sup *s,
			     const char *out_path, const char *err_path, const char *const *extra, char *why,
			     size_t whylen)
{
	const char *argv[32] = {cfg->server, "--model", model, "--port", "0"};
	size_t n = 5;
	for (; extra && *extra && n < 30; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int err = open(err_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0 || err < 0) {
		snprintf(why, whylen, "cannot create %.200s: %s", err < 0 ? err_path : out_path, strerror(errno));
		if (out >= 0)
			close(out);
		if (err >= 0)
			close(err);
		return -EIO;
	}
	struct el_sup_spec sp = {.argv = argv, .out_fd = out, .err_fd = err, .ready_line = true,
				 .timeout_ms = 5000, .cpus = cfg->pinned ? &cfg->server_cpus : NULL};
	int rc = el_sup_start(s, &sp, why, whylen);
	close(out);
	close(err);
	return rc;
}

int bench_server_start_cmd(const struct bench_cfg *cfg, const char *name, const char *tmpl, long backlog,
			   long max_conns, struct el_sup *s, const char *out_path, const char *err_path, char *why,
			   size_t whylen)
{
	int port = el_sup_free_port();
	if (port < 0) {
		snprintf(why, whylen, "no free port: %s", strerror(-port));
		return port;
	}
	const char *host = cfg->lan ? EL_LAN_SERVER_ADDR : "127.0.0.1";
	struct el_sup_settings set = {.bind = host, .port = (unsigned)port, .backlog = backlog,
				      .max_line = 8192, .max_conns = max_conns};
	char cmd[2048], bad[64];
	if (el_sup_expand(tmpl, &set, cmd, sizeof(cmd), bad, sizeof(bad)) < 0) {
		snprintf(why, whylen, "--server %s: bad placeholder %s", name, bad);
		return -EINVAL;
	}
	if (cfg->start_cmd)
		return cfg->start_cmd(cfg->start_cmd_arg, s, cmd, host, (unsigned)port, out_path, err_path, why,
				      whylen);
	return el_sup_start_cmd_on(s, cmd, host, (unsigned)port, out_path, err_path, 10000,
				   cfg->pinned ? &cfg->server_cpus : NULL, why, whylen);
}

/* The command that starts model, or NULL for an echolab model. */
static const char *server_cmd(const struct bench_cfg *cfg, const char *model)
{
	for (int i = 0; i < cfg->nmodels; i++)
		if (strcmp(cfg->models[i], model) == 0)
			return cfg->cmds[i];
	return NULL;
}

/* Starts the server of a cell: --quiet, a deep accept queue, and every
 * client admitted (prefork's pool is capped at 256 by default). A server
 * by command gets the same through its placeholders, on a free port, and
 * is ready when the port accepts. */
static int server_start(const struct bench_cfg *cfg, const char *dir, const char *model, long clients,
			struct el_sup *s, char *why, size_t whylen)
{
	char log[800], errf[800], max_conns[32];
	snprintf(log, sizeof(log), "%s/server.log", dir);
	snprintf(errf, sizeof(errf), "%s/server.err", dir);
	const char *tmpl = server_cmd(cfg, model);
	/* Sessions: a client's next connection can arrive before the server
	 * has seen its last one close, so the server holds more than one per
	 * client at moments; "! busy" then would be the bench's limit, not
	 * the server's. */
	long limit = cfg->session > 0 ? 4 * clients + 256 : clients + 64;
	if (tmpl)
		return bench_server_start_cmd(cfg, model, tmpl, 4096, limit, s, log, errf, why, whylen);
	snprintf(max_conns, sizeof(max_conns), "%ld", limit);
	const char *extra[8] = {"--quiet", "--backlog", "4096", "--max-conns", max_conns};
	size_t n = 5;
	if (cfg->lan) {
		extra[n++] = "--bind";
		extra[n++] = EL_LAN_SERVER_ADDR;
	}
	if (cfg->raw)
		extra[n++] = "--raw";
	return bench_server_start_model(cfg, model, s, log, errf, extra, why, whylen);
}

/* Stops the server: SIGTERM, SIGKILL for the whole group after 5 s.
 * Returns its exit status (128 + signal when a signal ended it), or -1
 * when it outlived SIGTERM by 5 s and was killed; *died tells whether it
 * had already exited before the SIGTERM. */
static int server_stop(struct el_sup *s, bool *died)
{
	*died = s->pid > 0 && !el_sup_alive(s);
	int st = el_sup_stop(s, SIGTERM, false, 5000, NULL);
	if (st < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* echolab-monitor on the server's tree, as a process of its own: a
 * thread of this process, sharing it with the load's loops, was sometimes
 * held up for seconds at 300 clients, while the separate program kept its
 * schedule. */
static pid_t monitor_start(const struct bench_cfg *cfg, pid_t server, const char *csv, const char *err)
{
	char pid[16], interval[32];
	snprintf(pid, sizeof(pid), "%d", (int)server);
	snprintf(interval, sizeof(interval), "%g", cfg->interval_s);
	pid_t m = fork();
	if (m == 0) {
		/* What it says (how old its kept figures got) is for the cell's
		 * files, not for the progress lines. */
		if (!freopen(err, "w", stderr))
			_exit(127);
		execl(cfg->monitor, cfg->monitor, "--pid", pid, "--interval", interval, "--out", csv,
		      (char *)NULL);
		_exit(127);
	}
	return m;
}

unsigned bench_model_traits(const struct bench_cfg *cfg, const char *model)
{
	for (int i = 0; i < cfg->nmodels; i++)
		if (strcmp(cfg->models[i], model) == 0)
			return cfg->traits[i];
	return 0;
}

bool bench_is_model(const struct bench_cfg *cfg, const char *model)
{
	for (int i = 0; i < cfg->nmodels; i++)
		if (strcmp(cfg->models[i], model) == 0)
			return true;
	return false;
}

bool bench_has_trait(const struct bench_cfg *cfg, const char *model, enum el_trait trait)
{
	return (bench_model_traits(cfg, model) & trait) != 0;
}

const char *bench_model_with(const struct bench_cfg *cfg, unsigned traits)
{
	for (int i = 0; i < cfg->nmodels; i++)
		if (!cfg->cmds[i] && (cfg->traits[i] & traits) == traits)
			return cfg->models[i];
	return NULL;
}

/* The monitor's rows inside the measurement window [from_s, to_s] of its
 * own clock (t_s); the peaks and the longest gap between rows over the
 * whole cell. */
static void monitor_figures(const char *csv, double from_s, double to_s, struct bench_cell *c)
{
	c->monitored = true;
	FILE *f = fopen(csv, "r");
	if (!f)
		return;
	char line[1024];
	double last_t = -1;
	bool first = true;
	while (fgets(line, sizeof(line), f)) {
		double t, user, sys;
		long procs, threads, rss, pss;
		if (sscanf(line, "%lf,%ld,%ld,%lf,%lf,%ld,%ld,", &t, &procs, &threads, &user, &sys, &rss,
			   &pss) != 7)
			continue; /* the header */
		bool no_cpu = first; /* the first row has no CPU figure yet */
		first = false;
		if (last_t >= 0 && t - last_t > c->monitor_gap_s)
			c->monitor_gap_s = t - last_t;
		last_t = t;
		if (procs > c->max_procs)
			c->max_procs = procs;
		if (threads > c->max_threads)
			c->max_threads = threads;
		if (t < from_s || t > to_s || no_cpu)
			continue;
		if (c->min_procs < 0 || procs < c->min_procs)
			c->min_procs = procs;
		if (c->min_threads < 0 || threads < c->min_threads)
			c->min_threads = threads;
		el_stats_add(&c->cpu, user + sys);
		el_stats_add(&c->pss_mib, (double)pss / 1024.0);
		el_stats_add(&c->rss_mib, (double)rss / 1024.0);
	}
	fclose(f);
}

int bench_monitor_slope(const char *csv, int col, double from_s, double to_s, double *slope_per_min,
			double *mean, long *rows)
{
	FILE *f = fopen(csv, "r");
	if (!f)
		return -1;
	double n = 0, st = 0, sy = 0, stt = 0, sty = 0;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;
		double t = strtod(p, &end);
		if (end == p)
			continue; /* the header */
		double y = 0;
		int i = 0;
		for (; i < col && (p = strchr(p, ',')); i++)
			p++;
		if (i < col || !p)
			continue;
		y = strtod(p, &end);
		if (end == p || t < from_s || t > to_s)
			continue;
		double tm = t / 60;
		n++;
		st += tm;
		sy += y;
		stt += tm * tm;
		sty += tm * y;
	}
	fclose(f);
	*rows = (long)n;
	if (n < 3 || n * stt - st * st <= 0)
		return -1;
	*slope_per_min = (n * sty - st * sy) / (n * stt - st * st);
	*mean = sy / n;
	return 0;
}

/* The t_s of the last whole row of a monitor CSV, or -1. */
static double monitor_last_t(const char *csv)
{
	FILE *f = fopen(csv, "r");
	if (!f)
		return -1;
	char line[1024];
	double last = -1;
	while (fgets(line, sizeof(line), f)) {
		char *end;
		double t = strtod(line, &end);
		if (end != line && *end == ',' && strchr(line, '\n'))
			last = t;
	}
	fclose(f);
	return last;
}

/* --target-monitor: the target's rows of this cell, by wall-clock time,
 * once the CSV (written live elsewhere, e.g. over ssh) has a row past
 * the window's end, or after 5 s. */
static void target_monitor_figures(const struct bench_cfg *cfg, double from_epoch, double to_epoch,
				   struct bench_cell *c)
{
	double last = -1;
	/* A t_s under 1e9 (2001) is not --epoch's: no use waiting. */
	for (int i = 0; i < 50 && !*cfg->stop && (last = monitor_last_t(cfg->target_monitor)) < to_epoch &&
			(last < 0 || last > 1e9);
	     i++)
		usleep(100000);
	monitor_figures(cfg->target_monitor, from_epoch, to_epoch, c);
	if (c->cpu.n == 0)
		fprintf(stderr, "\necholab-bench: --target-monitor %s: no row in %s-%ld's window (%s)\n",
			cfg->target_monitor, c->model, c->clients,
			last < 0 ? "no row at all" : last < 1e9 ? "its t_s count from the monitor's start: run it with --epoch"
							       : "are both clocks in step?");
}

/* The mean RTT of the first, middle and last BENCH_PARTS rows of the
 * logged connection. */
static void read_parts(const char *path, struct bench_cell *c)
{
	c->logged = 0;
	c->parts[0] = c->parts[1] = c->parts[2] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	size_t cap = 4096, n = 0;
	double *rtt = malloc(cap * sizeof(*rtt));
	char line[128];
	while (rtt && fgets(line, sizeof(line), f)) {
		long conn, seq, t, r;
		if (sscanf(line, "%ld,%ld,%ld,%ld", &conn, &seq, &t, &r) != 4)
			continue;
		if (n == cap) {
			double *more = realloc(rtt, 2 * cap * sizeof(*rtt));
			if (!more)
				break;
			rtt = more;
			cap *= 2;
		}
		rtt[n++] = (double)r;
	}
	fclose(f);
	c->logged = (long)n;
	if (n >= 3 * BENCH_PARTS) {
		size_t starts[3] = {0, n / 2 - BENCH_PARTS / 2, n - BENCH_PARTS};
		for (int p = 0; p < 3; p++) {
			double sum = 0;
			for (size_t i = 0; i < BENCH_PARTS; i++)
				sum += rtt[starts[p] + i];
			c->parts[p] = sum / BENCH_PARTS;
		}
	}
	free(rtt);
}

/* A cell's progress callback: the probe (--probe) starts when the load's
 * window begins; then the bench's own callback. */
struct cell_progress {
	const struct bench_cfg *cfg;
	struct el_probe *probe;
};

static void cell_progress(struct el_load *l, double elapsed_s, void *arg)
{
	struct cell_progress *cp = arg;
	if (cp->probe && !cp->probe->tried) {
		static struct el_load_result snap;
		el_load_snapshot(l, &snap, true);
		el_probe_tick(cp->probe, &snap, cp->cfg->duration_s);
	}
	if (cp->cfg->progress)
		cp->cfg->progress(l, elapsed_s, cp->cfg->progress_arg);
}

void bench_monitor_window(const char *csv, double from_s, double to_s, struct bench_cell *c)
{
	monitor_figures(csv, from_s, to_s, c);
}

/* The steps of a stepped cell, each a whole load run (el_load_step, as
 * echolab-load --rate-steps runs its rates) against the cell's one server:
 * the window of the first to the end of the last on the monitor's clock
 * into from_s and to_s, the last step's result into c->load. */
static void cell_steps(const struct bench_cfg *cfg, struct bench_cell *c, const struct el_load_cfg *lc,
		       const struct bench_stepper *st, int64_t mon_t0, double *from_s, double *to_s)
{
	static struct el_load_result r;
	const struct el_load_result *last = NULL;
	double rate;
	*from_s = *to_s = 0;
	while (!*cfg->stop && (rate = st->next(st->arg, last)) > 0) {
		char err[256];
		if (el_load_step(lc, rate, cfg->progress, cfg->progress_arg, &r, err, sizeof(err)) < 0) {
			snprintf(c->failure, sizeof(c->failure), "load at %g msgs/s a connection: %.180s", rate, err);
			break;
		}
		double end = (double)(el_io_now_us() - mon_t0) / 1e6;
		if (!last)
			*from_s = end - r.window_s;
		*to_s = end;
		st->done(st->arg, &r, end - r.window_s, end);
		c->load = r;
		c->ran = true;
		last = &c->load;
	}
}

static void run_cell(const struct bench_cfg *cfg, struct bench_cell *c, double open_rate,
		     const struct bench_stepper *steps);

void bench_run_cell(const struct bench_cfg *cfg, struct bench_cell *c, double open_rate)
{
	run_cell(cfg, c, open_rate, NULL);
}

void bench_run_steps(const struct bench_cfg *cfg, struct bench_cell *c, const struct bench_stepper *steps)
{
	run_cell(cfg, c, 0, steps);
}

/* The server's connections per event loop at its exit (server.err's
 * "connections per loop (now/most/all): 0: 0/51/51, 1: 0/49/49"): the
 * largest "most" over the smallest; 0 without the line or with one loop.
 * A loop that held none gives the largest over 0.5, so that "all on one
 * loop" reads as a large ratio rather than none. */
static double loop_ratio(const char *dir)
{
	char path[800], line[4096];
	snprintf(path, sizeof(path), "%s/server.err", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	double ratio = 0;
	const char *key = "connections per loop (now/most/all):";
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, key);
		if (!p)
			continue;
		long lo = -1, hi = -1, now, most, all;
		int loops = 0;
		for (p += strlen(key); p && sscanf(p, " %*d: %ld/%ld/%ld", &now, &most, &all) == 3;) {
			loops++;
			lo = lo < 0 || most < lo ? most : lo;
			hi = most > hi ? most : hi;
			p = strchr(p, ',');
			p = p ? p + 1 : NULL;
		}
		if (loops > 1 && hi > 0)
			ratio = (double)hi / (lo > 0 ? (double)lo : 0.5);
	}
	fclose(f);
	return ratio;
}

/* A cell's figures cleared before it runs. */
static void cell_reset(struct bench_cell *c)
{
	c->ran = false;
	c->failure[0] = 0;
	memset(&c->load, 0, sizeof(c->load));
	c->load_cpu_s = 0;
	c->probe_failure[0] = 0;
	el_stats_init(&c->cpu);
	el_stats_init(&c->pss_mib);
	el_stats_init(&c->rss_mib);
	c->max_procs = c->max_threads = 0;
	c->reached = 0;
	c->server_conns = c->server_conns_min = -1;
	c->min_procs = c->min_threads = -1;
	c->monitor_gap_s = 0;
	c->short_run = false;
	c->monitored = false;
	c->loop_ratio = 0;
	c->server_out_bytes = 0;
}

/* A process's CPU, user and system, in seconds. */
static double cpu_s(const struct rusage *r)
{
	return (double)(r->ru_utime.tv_sec + r->ru_stime.tv_sec) + (double)(r->ru_utime.tv_usec + r->ru_stime.tv_usec) / 1e6;
}

/* The load of a cell, set up and run on the load's side (--cpus' LOAD
 * CPUs, --lan's client namespace), its result into c; the window on the
 * monitor's clock into from_s and to_s, its wall-clock start into
 * from_epoch. */
static void cell_load(const struct bench_cfg *cfg, struct bench_cell *c, const struct el_load_cfg *lc,
		      const struct bench_stepper *steps, int64_t mon_t0, double *from_s, double *to_s,
		      double *from_epoch)
{
	char err[256] = "";
	/* The load's threads (or processes) are made now: on --cpus' LOAD
	 * CPUs, this thread's own affinity restored after. */
	cpu_set_t own;
	bool moved = cfg->pinned && sched_getaffinity(0, sizeof(own), &own) == 0 &&
		     sched_setaffinity(0, sizeof(cfg->load_cpus), &cfg->load_cpus) == 0;
	/* --lan: the load's sockets, threads and processes are made on the
	 * client's side of the LAN; this thread goes back after. */
	int in_client = cfg->lan ? el_lan_enter_client(cfg->lan) : 0;
	if (in_client < 0)
		snprintf(err, sizeof(err), "entering the LAN's client side: %s", strerror(-in_client));
	struct el_load *l = in_client == 0 && !steps ? el_load_create(lc, err, sizeof(err)) : NULL;
	static struct el_probe probe;
	struct cell_progress cp = {.cfg = cfg, .probe = cfg->probe_rate > 0 ? &probe : NULL};
	if (cp.probe)
		el_probe_init(&probe, lc, cfg->probe_rate);
	if (l) {
		*from_epoch = wall_s() + cfg->warmup_s;
		*from_s = (double)(el_io_now_us() - mon_t0) / 1e6 + cfg->warmup_s;
		struct rusage before, after;
		getrusage(RUSAGE_SELF, &before);
		int run = el_load_run(l, cell_progress, &cp, err, sizeof(err));
		getrusage(RUSAGE_SELF, &after);
		c->load_cpu_s = lc->spawn || lc->processes > 0 ? 0 : cpu_s(&after) - cpu_s(&before);
		const struct el_load_result *pr = cp.probe ? el_probe_finish(cp.probe, c->probe_failure,
									   sizeof(c->probe_failure)) : NULL;
		if (run == 0) {
			el_load_snapshot(l, &c->load, false);
			c->ran = true;
			if (pr) {
				c->probe = *pr;
				c->load.probe = &c->probe;
				c->load.probe_rate = cfg->probe_rate;
			}
		} else {
			snprintf(c->failure, sizeof(c->failure), "load: %s", err);
		}
		*to_s = (double)(el_io_now_us() - mon_t0) / 1e6;
		/* The window is the load's own: a gated run's starts when its
		 * connections are in, later than asked, and every run's ends
		 * before its teardown. A monitor sample taken while 500
		 * spawned clients exited counted in the window: the fork
		 * server "held 0 to 500" (a CI run, stop 37). */
		if (run == 0 && c->load.window_start_unix > 0) {
			double shift = c->load.window_start_unix - *from_epoch;
			*from_s += shift;
			*from_epoch += shift;
			if (*from_s + c->load.window_s < *to_s)
				*to_s = *from_s + c->load.window_s;
		}
		el_load_destroy(l);
	} else if (in_client == 0 && steps) {
		cell_steps(cfg, c, lc, steps, mon_t0, from_s, to_s);
	} else {
		snprintf(c->failure, sizeof(c->failure), "load: %s", err[0] ? err : "out of memory");
	}
	int back = cfg->lan && in_client == 0 ? el_lan_enter_server(cfg->lan) : 0;
	if (back < 0) {
		/* Stopping the server from the client's side still works (by
		 * pid); the next cell's would listen on the wrong side. */
		fprintf(stderr, "echolab-bench: cannot return to the LAN's server side: %s\n", strerror(-back));
		*cfg->stop = 1;
	}
	if (moved)
		sched_setaffinity(0, sizeof(own), &own);
}

/* What the cell's figures say of the clients it measured, and its files:
 * load.json and rtt.hgrm; rtt is the logged connection's CSV. */
static void cell_figures(const struct bench_cfg *cfg, struct bench_cell *c, const struct el_load_cfg *lc,
			 const char *dir, const char *rtt)
{
	/* Sessions come and go: the server's count of them says nothing of
	 * whether it held every client. Without a monitor sample in the
	 * window (one shorter than the 0.5 s interval) it is unknown: it
	 * once read "held -2 to 0" and marked the cell short. */
	if (cfg->session > 0 || c->min_procs < 0) {
	} else if (bench_has_trait(cfg, c->model, EL_TRAIT_PROCESS_PER_CONNECTION)) {
		c->server_conns = c->max_procs - 1; /* the parent accepts */
		c->server_conns_min = c->min_procs - 1;
	} else if (bench_has_trait(cfg, c->model, EL_TRAIT_THREAD_PER_CONNECTION)) {
		c->server_conns = c->max_threads - 1; /* the main thread accepts */
		c->server_conns_min = c->min_threads - 1;
	}
	if (c->ran) {
		c->reached = c->load.ready >= 0 ? c->load.ready : c->load.reached;
		c->short_run = c->reached < c->clients ||
			       (c->server_conns >= 0 && c->server_conns_min < c->clients);
	}
	read_parts(rtt, c);
	if (!c->ran)
		return;
	static const double pcts[] = {50, 90, 99, 99.9};
	char path[800];
	snprintf(path, sizeof(path), "%s/load.json", dir);
	FILE *f = fopen(path, "w");
	if (f) {
		el_load_write_json(f, lc, &c->load, pcts, 4, *cfg->stop);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/rtt.hgrm", dir);
	f = fopen(path, "w");
	if (f) {
		el_hist_write_hgrm(&c->load.hist, f, 1000.0);
		fclose(f);
	}
}

static void run_cell(const struct bench_cfg *cfg, struct bench_cell *c, double open_rate,
		     const struct bench_stepper *steps)
{
	char dir[700];
	snprintf(dir, sizeof(dir), "%s/%s", cfg->dir, c->cell_dir);
	cell_reset(c);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(c->failure, sizeof(c->failure), "cannot create %.180s: %s", dir, strerror(errno));
		return;
	}
	/* --target: nothing to start or to watch; the load goes there. */
	bool local = cfg->target_host == NULL;
	struct el_sup srv = {.pid = -1};
	if (local && server_start(cfg, dir, c->model, c->clients, &srv, c->failure, sizeof(c->failure)) < 0)
		return;

	char rtt[800], csv[800], mon_err[800];
	snprintf(csv, sizeof(csv), "%s/monitor.csv", dir);
	snprintf(mon_err, sizeof(mon_err), "%s/monitor.err", dir);
	int64_t mon_t0 = el_io_now_us();
	pid_t mon = local ? monitor_start(cfg, srv.pid, csv, mon_err) : -1;
	bool watching = mon > 0;
	if (local && !watching)
		snprintf(c->failure, sizeof(c->failure), "the monitor could not start");

	uint8_t *msg = malloc(cfg->msg_size);
	for (size_t i = 0; msg && i < cfg->msg_size; i++)
		msg[i] = (uint8_t)('a' + i % 26);
	snprintf(rtt, sizeof(rtt), "%s/rtt.csv", dir);
	int log_fd = open(rtt, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd >= 0 && write(log_fd, "conn,seq,t_send_us,rtt_us\n", 26) != 26) {
		close(log_fd);
		log_fd = -1;
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct el_load_cfg lc = {
		.host = !local ? cfg->target_host : cfg->lan ? EL_LAN_SERVER_ADDR : "127.0.0.1",
		.port = local ? srv.port : cfg->target_port,
		.conns = c->clients,
		.threads = cfg->threads ? cfg->threads : (int)(cpus > 0 ? cpus : 1),
		.spawn = cfg->spawn,
		.processes = cfg->processes < c->clients ? cfg->processes : (int)c->clients,
		.pin = bench_paired(cfg, c->model),
		.raw = cfg->raw,
		.session = cfg->session,
		.msg = msg,
		.msg_len = cfg->msg_size,
		.warmup_s = cfg->warmup_s,
		.duration_s = cfg->duration_s,
		.rate = open_rate,
		.timeout_ms = 5000,
		.rtt_log_fd = log_fd,
		.stop = cfg->stop,
	};
	if (lc.threads > lc.conns)
		lc.threads = (int)lc.conns;
	double from_s = 0, to_s = 0, from_epoch = 0;
	if (!msg && (watching || !local))
		snprintf(c->failure, sizeof(c->failure), "load: out of memory");
	else if (watching || !local)
		cell_load(cfg, c, &lc, steps, mon_t0, &from_s, &to_s, &from_epoch);
	if (log_fd >= 0)
		close(log_fd);
	if (watching) {
		kill(mon, SIGTERM);
		waitpid(mon, NULL, 0);
	}
	c->server_exit = local ? server_stop(&srv, &c->server_died) : 0;
	c->loop_ratio = local ? loop_ratio(dir) : 0;
	struct stat out;
	char out_path[800];
	snprintf(out_path, sizeof(out_path), "%s/server.log", dir);
	c->server_out_bytes = local && stat(out_path, &out) == 0 ? (long long)out.st_size : 0;
	c->from_s = from_s;
	c->to_s = to_s;
	if (local)
		monitor_figures(csv, from_s, to_s, c);
	else if (cfg->target_monitor && c->ran)
		target_monitor_figures(cfg, from_epoch, from_epoch + (to_s - from_s), c);
	cell_figures(cfg, c, &lc, dir, rtt);
	free(msg);
}
