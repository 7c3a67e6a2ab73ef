/* The sweep: the open-loop rate raised step by step against one server
 * until p99 passes the target. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mode.h"

/* The sweep's steps, chosen as they finish: double the rate until a step
 * is over the target, then halve the gap between the best under it and
 * the lowest over it until they are within 5%. */
struct sweep {
	struct bench_progress *p;
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
int bench_run_sweep(struct bench_cfg *cfg, const char *model, long clients, double target,
		     double start_rate)
{
	struct bench_progress p = {.cfg = cfg, .tty = isatty(2)};
	cfg->progress = bench_show_progress;
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
	return *cfg->stop ? 130 : rc < 0 ? 1 : 0;
}

int bench_sweep_report(const struct bench_cfg *cfg, const char *model, long clients,
		       double target_us, const struct bench_step *steps, int nsteps, int best)
{
	FILE *f = bench_open_in(cfg, "sweep.csv");
	if (!f)
		return -1;
	fprintf(f, "offered_msgs_per_s,achieved_msgs_per_s,p50_us,p99_us,max_us,errors,under_target,server_cpu_pct\n");
	for (int i = 0; i < nsteps; i++) {
		fprintf(f, "%.1f,%.1f,%.0f,%.0f,%.0f,%llu,%d,", steps[i].offered, steps[i].achieved,
			steps[i].p50, steps[i].p99, steps[i].max, (unsigned long long)steps[i].errors,
			steps[i].ok);
		if (steps[i].cpu >= 0)
			fprintf(f, "%.1f\n", steps[i].cpu);
		else
			fprintf(f, "\n");
	}
	fclose(f);
	f = bench_open_in(cfg, "sweep.gp");
	if (!f)
		return -1;
	char body[1024];
	snprintf(body, sizeof(body),
		 "set title 'sweep: %s, %ld connections, open loop; p99 target %.0f us'\n"
		 "set datafile separator ','\nset key outside right top\nset grid\n"
		 "set xlabel 'offered messages/s'\nset ylabel 'p99 (us, log scale)'\nset logscale y\n"
		 "set y2label 'achieved messages/s'\nset y2tics\nset ytics nomirror\n"
		 "plot 'sweep.csv' every ::1 using 1:4 with linespoints pointtype 7 title 'p99', "
		 "%.0f with lines dashtype 2 title 'target', "
		 "'' every ::1 using 1:2 axes x1y2 with linespoints pointtype 5 title 'achieved'",
		 model, clients, target_us, target_us);
	bench_plot_both(f, "sweep", body);
	fclose(f);
	bool plotted = bench_gnuplot(cfg->dir, "sweep.gp");

	f = bench_open_in(cfg, "report.md");
	if (!f)
		return -1;
	char machine[512];
	bench_machine(machine, sizeof(machine));
	fprintf(f, "# echolab sweep: %s under a rising open-loop rate\n\nMachine: %s.\n\nCommand: `%s`\n\n",
		model, machine, cfg->command);
	if (best >= 0)
		fprintf(f, "**Highest rate with p99 under %.0f us: %.0f messages/s offered, %.0f achieved "
			   "(p99 %.0f us)**, %ld connections, %.1f s per step.\n\n",
			target_us, steps[best].offered, steps[best].achieved, steps[best].p99, clients,
			cfg->duration_s);
	else
		fprintf(f, "**No rate kept p99 under %.0f us**, not even the lowest step.\n\n", target_us);
	fprintf(f, "The steps ran one after another against one server, monitored throughout (as "
		   "echolab-load --rate-steps runs its rates); each step opened its connections, warmed up "
		   "for %.1f s and measured %.1f s.\n\n", cfg->warmup_s, cfg->duration_s);
	fprintf(f, "| offered msgs/s | achieved msgs/s | p50 us | p99 us | max us | errors | server CPU %% | under target |\n"
		   "|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < nsteps; i++) {
		char cpu[32] = "not sampled";
		if (steps[i].cpu >= 0)
			snprintf(cpu, sizeof(cpu), "%.0f", steps[i].cpu);
		fprintf(f, "| %.0f | %.0f | %.0f | %.0f | %.0f | %llu | %s | %s |\n", steps[i].offered,
			steps[i].achieved, steps[i].p50, steps[i].p99, steps[i].max,
			(unsigned long long)steps[i].errors, cpu, steps[i].ok ? "yes" : "no");
	}
	fprintf(f, "\nA step is under target when its p99 (from the intended send times) is under the "
		   "target, it had no errors, and it achieved at least 95%% of the offered rate.\n\n");
	if (plotted)
		fprintf(f, "![sweep](sweep.png)\n");
	return fclose(f);
}

/* The sweep's own settings (its options). */
static struct {
	const char *model;
	double target, start_rate;
} sweep_opts = {.start_rate = 2000};

static int opt_model(const char *arg)
{
	sweep_opts.model = arg;
	return 0;
}

static int opt_p99_target(const char *arg)
{
	return el_cli_parse_num(arg, 1, 1e9, &sweep_opts.target)
		? 0 : el_cli_usage("echolab-bench", "bad --p99-target '%s' (microseconds)", arg);
}

static int opt_start_rate(const char *arg)
{
	return el_cli_parse_num(arg, 1, 1e9, &sweep_opts.start_rate)
		? 0 : el_cli_usage("echolab-bench", "bad --start-rate '%s'", arg);
}

static int sweep_check(const struct bench_cfg *cfg, const struct bench_args *a)
{
	(void)a;
	if (cfg->session > 0)
		return el_cli_usage("echolab-bench", "%s",
				    "--workload session:K is the closed loop's; the sweep is open loop");
	if (!sweep_opts.model || sweep_opts.target <= 0)
		return el_cli_usage("echolab-bench", "%s", "--sweep needs --model M and --p99-target US");
	return 0;
}

/* One client count, 100; 3 s after 1 s a rate. */
static int sweep_defaults(struct bench_cfg *cfg, const struct bench_args *a, const struct bench_cfg *known)
{
	if (!bench_is_model(known, sweep_opts.model))
		return el_cli_usage("echolab-bench", "unknown model '%s'", sweep_opts.model);
	if (!a->clients) {
		cfg->counts[0] = 100;
		cfg->ncounts = 1;
	}
	if (!a->duration_set)
		cfg->duration_s = 3;
	if (!a->warmup_set)
		cfg->warmup_s = 1;
	return 0;
}

static int sweep_run(struct bench_cfg *cfg, const struct bench_args *a)
{
	(void)a;
	return bench_run_sweep(cfg, sweep_opts.model, cfg->counts[0], sweep_opts.target, sweep_opts.start_rate);
}

const struct bench_mode bench_mode_sweep = {
	.name = "sweep",
	.synopsis = "--sweep --model M --p99-target US [--clients N]\n"
		    "[--start-rate R] [--duration S] [--lan [--delay MS]]",
	.help = "raise the open-loop rate until p99 passes --p99-target",
	.takes = TAKES_WORKLOAD | TAKES_LAN,
	.options = (const struct bench_mode_option[]){
		{.name = "model",
		 .arg = "M",
		 .help = "the model of the sweep",
		 .parse = opt_model,
		 .hint = "; the experiment takes --models"},
		{.name = "p99-target",
		 .arg = "US",
		 .help = "the sweep's p99 bound in microseconds",
		 .parse = opt_p99_target},
		{.name = "start-rate",
		 .arg = "R",
		 .help = "the sweep's first total rate, msgs/s (default 2000)",
		 .parse = opt_start_rate},
		{0},
	},
	.defaults = sweep_defaults,
	.check = sweep_check,
	.run = sweep_run,
};
