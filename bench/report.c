/* The experiment's outputs: summary.csv, summary.json, report.md,
 * report.html and its plots (report_parts.c has what every mode's report
 * shares). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "intervals.h"
#include "json.h"
#include "procstat.h"

/* One model at one client count, its repeats merged. */
struct agg {
	const char *model;
	long clients;
	int repeats, ran;
	struct el_hist hist;                  /* every RTT of every repeat */
	struct el_hist connect, first_reply;  /* sessions: every connect's */
	struct el_hist probe;                 /* --probe: every probe RTT */
	int probed;                           /* repeats with a probe result */
	uint64_t sessions;
	double window_s;                      /* the repeats' windows, summed */
	struct el_stats rate;                 /* msgs/s of each repeat */
	struct el_stats p99;                  /* p99 of each repeat */
	struct el_stats eff;                  /* msgs per server CPU-s of each repeat */
	struct el_stats pss_rep;              /* mean PSS of each repeat */
	double rates[BENCH_MAX_REPEATS];      /* msgs/s of each repeat, in order */
	struct bench_spread spread;           /* how the repeats' msgs/s agree */
	struct el_stats cpu, pss, rss;        /* every monitor sample */
	long procs, threads;
	uint64_t errors, messages;
	long reached, server_conns;           /* the least over the repeats */
	long server_conns_min;
	double monitor_gap_s;                 /* the longest */
	double loop_ratio;                    /* the largest of the repeats' (0: none) */
	long long out_bytes;                  /* the most a repeat's server wrote to stdout */
	double out_window_s;                  /* that repeat's window */
	int short_runs;                       /* repeats short of the clients */
	int invalid_runs;                     /* repeats the generator shaped */
	char invalid[96];                     /* the first one's first reason */
	double parts[3];
	int nparts;
	const struct bench_cell *first;       /* the first repeat that ran */
	char failure[256];
};

static double rate_of(const struct el_load_result *r)
{
	return r->window_s > 0 ? (double)r->messages / r->window_s : 0;
}

static int aggregate(const struct bench_cfg *cfg, const struct bench_cell *cells, int ncells,
		     struct agg *out)
{
	int n = 0;
	for (int m = 0; m < cfg->nmodels; m++) {
		for (int k = 0; k < cfg->ncounts; k++) {
			struct agg *a = &out[n];
			memset(a, 0, sizeof(*a));
			a->model = cfg->models[m];
			a->clients = cfg->counts[k];
			el_hist_init(&a->hist);
			el_hist_init(&a->connect);
			el_hist_init(&a->first_reply);
			el_hist_init(&a->probe);
			el_stats_init(&a->rate);
			el_stats_init(&a->p99);
			el_stats_init(&a->eff);
			el_stats_init(&a->pss_rep);
			el_stats_init(&a->cpu);
			el_stats_init(&a->pss);
			el_stats_init(&a->rss);
			for (int i = 0; i < ncells; i++) {
				const struct bench_cell *c = &cells[i];
				if (strcmp(c->model, a->model) != 0 || c->clients != a->clients)
					continue;
				a->repeats++;
				if (!c->ran) {
					snprintf(a->failure, sizeof(a->failure), "%s", c->failure);
					continue;
				}
				a->ran++;
				if (!a->first) {
					a->first = c;
					a->reached = c->reached;
					a->server_conns = c->server_conns;
					a->server_conns_min = c->server_conns_min;
				}
				if (c->server_conns_min < a->server_conns_min)
					a->server_conns_min = c->server_conns_min;
				if (c->reached < a->reached)
					a->reached = c->reached;
				if (c->server_conns < a->server_conns)
					a->server_conns = c->server_conns;
				if (c->monitor_gap_s > a->monitor_gap_s)
					a->monitor_gap_s = c->monitor_gap_s;
				if (c->loop_ratio > a->loop_ratio)
					a->loop_ratio = c->loop_ratio;
				if (c->server_out_bytes > a->out_bytes) {
					a->out_bytes = c->server_out_bytes;
					a->out_window_s = c->load.window_s;
				}
				a->short_runs += c->short_run;
				if (!c->load.valid && !a->invalid_runs++)
					snprintf(a->invalid, sizeof(a->invalid), "%s", c->load.reasons[0]);
				el_hist_merge(&a->hist, &c->load.hist);
				el_hist_merge(&a->connect, &c->load.connect);
				el_hist_merge(&a->first_reply, &c->load.first_reply);
				if (c->load.probe) {
					el_hist_merge(&a->probe, &c->load.probe->hist);
					a->probed++;
				}
				a->sessions += c->load.sessions;
				a->window_s += c->load.window_s;
				if (a->rate.n < BENCH_MAX_REPEATS)
					a->rates[a->rate.n] = rate_of(&c->load);
				el_stats_add(&a->rate, rate_of(&c->load));
				if (c->cpu.n && c->cpu.mean > 0)
					el_stats_add(&a->eff, rate_of(&c->load) / (c->cpu.mean / 100));
				if (c->pss_mib.n)
					el_stats_add(&a->pss_rep, c->pss_mib.mean);
				if (c->load.hist.total)
					el_stats_add(&a->p99, el_hist_percentile(&c->load.hist, 99));
				el_stats_merge(&a->cpu, &c->cpu);
				el_stats_merge(&a->pss, &c->pss_mib);
				el_stats_merge(&a->rss, &c->rss_mib);
				if (c->max_procs > a->procs)
					a->procs = c->max_procs;
				if (c->max_threads > a->threads)
					a->threads = c->max_threads;
				a->errors += c->load.errors_total;
				a->messages += c->load.messages;
				if (c->logged >= 3 * BENCH_PARTS) {
					for (int p = 0; p < 3; p++)
						a->parts[p] += c->parts[p];
					a->nparts++;
				}
			}
			for (int p = 0; p < 3 && a->nparts; p++)
				a->parts[p] /= a->nparts;
			bench_spread_of(a->rates, (int)a->rate.n, &a->spread);
			if (a->repeats)
				n++;
		}
	}
	return n;
}

/* Messages per server CPU-second: msgs/s over the CPU share of the server's
 * process tree (the monitor's mean, 100% = one CPU). Client and server
 * share the machine's CPUs, so msgs/s alone rewards a server that leaves
 * more CPU to the load generator. 0 when the monitor saw no CPU. */
static double per_cpu_s(const struct agg *a)
{
	return a->cpu.n && a->cpu.mean > 0 ? a->rate.mean / (a->cpu.mean / 100) : 0;
}

static int write_summary(const struct bench_cfg *cfg, const struct agg *a, int n)
{
	FILE *f = bench_open_in(cfg, "summary.csv");
	if (!f)
		return -1;
	fprintf(f, "model,clients,repeats,msgs_per_s,msgs_per_s_min,msgs_per_s_max,"
		   "rtt_mean_us,rtt_stddev_us,rtt_variance_us2,rtt_p50_us,rtt_p99_us,rtt_p99_9_us,"
		   "rtt_max_us,rtt_p99_min_us,rtt_p99_max_us,cpu_mean_pct,cpu_stddev_pct,"
		   "cpu_variance_pct2,pss_mean_mib,pss_stddev_mib,pss_variance_mib2,rss_mean_mib,"
		   "procs_max,threads_max,messages,errors,rtt_first20_us,rtt_middle20_us,"
		   "rtt_last20_us,conns_reached,server_conns_peak,server_conns_min,monitor_max_gap_s,"
		   "measured,msgs_per_cpu_s,valid,sessions_per_s,connect_p50_us,connect_p99_us,"
		   "first_reply_p50_us,first_reply_p99_us,msgs_per_s_ci95_lo,msgs_per_s_ci95_hi,"
		   "rtt_p99_ci95_lo,rtt_p99_ci95_hi,probe_replies,probe_p50_us,probe_p99_us,"
		   "msgs_per_s_median,msgs_per_s_spread_pct,stable,msgs_per_s_groups,loop_conns_ratio\n");
	for (int i = 0; i < n; i++) {
		const struct el_stats *st = &a[i].hist.stats;
		bool has = st->n > 0;
		fprintf(f, "%s,%ld,%d,%.1f,%.1f,%.1f,", a[i].model, a[i].clients, a[i].ran,
			a[i].rate.mean, a[i].rate.n ? a[i].rate.min : 0, a[i].rate.n ? a[i].rate.max : 0);
		fprintf(f, "%.1f,%.1f,%.1f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,", st->mean, el_stats_stddev(st),
			el_stats_variance(st), has ? el_hist_percentile(&a[i].hist, 50) : 0,
			has ? el_hist_percentile(&a[i].hist, 99) : 0,
			has ? el_hist_percentile(&a[i].hist, 99.9) : 0, has ? st->max : 0,
			a[i].p99.n ? a[i].p99.min : 0, a[i].p99.n ? a[i].p99.max : 0);
		fprintf(f, "%.2f,%.2f,%.2f,%.2f,%.3f,%.4f,%.2f,%ld,%ld,%llu,%llu,", a[i].cpu.mean,
			el_stats_stddev(&a[i].cpu), el_stats_variance(&a[i].cpu), a[i].pss.mean,
			el_stats_stddev(&a[i].pss), el_stats_variance(&a[i].pss), a[i].rss.mean,
			a[i].procs, a[i].threads, (unsigned long long)a[i].messages,
			(unsigned long long)a[i].errors);
		if (a[i].nparts)
			fprintf(f, "%.1f,%.1f,%.1f,", a[i].parts[0], a[i].parts[1], a[i].parts[2]);
		else
			fprintf(f, ",,,");
		/* measured: "all" clients, or "short" when a repeat was short of
		 * them (never presented as that count). */
		if (a[i].server_conns >= 0)
			fprintf(f, "%ld,%ld,%ld,%.3f,%s,", a[i].reached, a[i].server_conns,
				a[i].server_conns_min, a[i].monitor_gap_s, a[i].short_runs ? "short" : "all");
		else
			fprintf(f, "%ld,,,%.3f,%s,", a[i].reached, a[i].monitor_gap_s,
				a[i].short_runs ? "short" : "all");
		fprintf(f, "%.0f,%s,", per_cpu_s(&a[i]), a[i].invalid_runs ? "no" : "yes");
		/* Sessions (--workload session:K): what a connection costs. */
		if (cfg->session > 0 && a[i].connect.total)
			fprintf(f, "%.1f,%.0f,%.0f,%.0f,%.0f,", a[i].window_s > 0 ? (double)a[i].sessions / a[i].window_s : 0,
				el_hist_percentile(&a[i].connect, 50), el_hist_percentile(&a[i].connect, 99),
				el_hist_percentile(&a[i].first_reply, 50), el_hist_percentile(&a[i].first_reply, 99));
		else
			fprintf(f, ",,,,,");
		/* Across repeats (2 or more): the 95% interval of the mean. */
		struct el_ci rc, pc;
		if (el_ci_of_stats(&a[i].rate, &rc) && el_ci_of_stats(&a[i].p99, &pc))
			fprintf(f, "%.1f,%.1f,%.0f,%.0f,", fmax(rc.lo, 0), rc.hi, fmax(pc.lo, 0), pc.hi);
		else
			fprintf(f, ",,,,");
		/* --probe: the latency under load, apart from the load's. */
		if (a[i].probed && a[i].probe.total)
			fprintf(f, "%llu,%.0f,%.0f,", (unsigned long long)a[i].probe.total,
				el_hist_percentile(&a[i].probe, 50), el_hist_percentile(&a[i].probe, 99));
		else
			fprintf(f, ",,,");
		/* The repeats' agreement: stable when every repeat is within
		 * BENCH_STABLE_PCT of their median (empty with one repeat);
		 * two groups as "N@median;N@median". */
		const struct bench_spread *sp = &a[i].spread;
		if (sp->n > 1)
			fprintf(f, "%.1f,%.1f,%s,", sp->median, sp->worst_pct, sp->unstable ? "no" : "yes");
		else
			fprintf(f, "%.1f,,,", sp->median);
		if (sp->groups == 2)
			fprintf(f, "%d@%.0f;%d@%.0f,", sp->high_n, sp->high_median, sp->low_n, sp->low_median);
		else
			fprintf(f, ",");
		/* The server's placement: its loops' most connections at once,
		 * largest over smallest, the worst repeat's. */
		if (a[i].loop_ratio > 0)
			fprintf(f, "%.2f\n", a[i].loop_ratio);
		else
			fprintf(f, "\n");
	}
	return fclose(f);
}

/* summary.json: summary.csv's rows as an array of objects, its header's
 * names as keys; a number stays a number, an empty field is null, any
 * other text a string. */
static int write_summary_json(const struct bench_cfg *cfg)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/summary.csv", cfg->dir);
	FILE *in = fopen(path, "r");
	FILE *f = in ? bench_open_in(cfg, "summary.json") : NULL;
	if (!f) {
		if (in)
			fclose(in);
		return -1;
	}
	char head[2048], line[4096];
	char *keys[64];
	int nkeys = 0;
	if (fgets(head, sizeof(head), in)) {
		head[strcspn(head, "\n")] = 0;
		for (char *save, *t = strtok_r(head, ",", &save); t && nkeys < 64; t = strtok_r(NULL, ",", &save))
			keys[nkeys++] = t;
	}
	fputs("[", f);
	for (int row = 0; fgets(line, sizeof(line), in); row++) {
		line[strcspn(line, "\n")] = 0;
		fputs(row ? ",\n {" : "\n {", f);
		char *p = line;
		for (int k = 0; k < nkeys && p; k++) {
			char *comma = strchr(p, ',');
			if (comma)
				*comma = 0;
			char *end;
			strtod(p, &end);
			fprintf(f, "%s\"%s\": ", k ? ", " : "", keys[k]);
			if (!*p)
				fputs("null", f);
			else if (*end == 0 && strspn(p, "0123456789.-+e") == strlen(p))
				fputs(p, f);
			else
				el_json_cstring(f, p);
			p = comma ? comma + 1 : NULL;
		}
		fputs("}", f);
	}
	fputs("\n]\n", f);
	fclose(in);
	return fclose(f);
}

/* True when some cell of model ran: only those get a line in the plots
 * (a server that never started gave gnuplot an empty index to warn of). */
static bool model_ran(const struct agg *a, int n, const char *model)
{
	for (int i = 0; i < n; i++)
		if (a[i].ran && strcmp(a[i].model, model) == 0)
			return true;
	return false;
}

/* The plots' data: one gnuplot index per model that ran, a row per client
 * count. */
static int write_plot_data(const struct bench_cfg *cfg, const struct agg *a, int n)
{
	FILE *f = bench_open_in(cfg, "plots.dat");
	if (!f)
		return -1;
	for (int m = 0; m < cfg->nmodels; m++) {
		if (!model_ran(a, n, cfg->models[m]))
			continue;
		fprintf(f, "# %s: clients rtt_mean rtt_sd p99 cpu cpu_sd pss pss_sd msgs_per_s probe_p50 probe_p99\n",
			cfg->models[m]);
		for (int i = 0; i < n; i++) {
			if (strcmp(a[i].model, cfg->models[m]) != 0 || !a[i].ran)
				continue;
			const struct el_stats *st = &a[i].hist.stats;
			fprintf(f, "%ld %.1f %.1f %.0f %.2f %.2f %.3f %.3f %.1f", a[i].clients, st->mean,
				el_stats_stddev(st), st->n ? el_hist_percentile(&a[i].hist, 99) : 0,
				a[i].cpu.mean, el_stats_stddev(&a[i].cpu), a[i].pss.mean,
				el_stats_stddev(&a[i].pss), a[i].rate.mean);
			if (a[i].probe.total)
				fprintf(f, " %.0f %.0f\n", el_hist_percentile(&a[i].probe, 50),
					el_hist_percentile(&a[i].probe, 99));
			else
				fprintf(f, " NaN NaN\n");
		}
		fprintf(f, "\n\n");
	}
	return fclose(f);
}

/* The logged connection's RTTs of one cell for the timeline plot, at most
 * about 4000 points, and its first, middle and last parts apart. */
static int write_timeline(const struct bench_cfg *cfg, const struct bench_cell *c, const char *name)
{
	char path[800];
	snprintf(path, sizeof(path), "%s/%s/rtt.csv", cfg->dir, c->cell_dir);
	FILE *in = fopen(path, "r");
	if (!in)
		return -1;
	FILE *out = bench_open_in(cfg, name);
	if (!out) {
		fclose(in);
		return -1;
	}
	long n = c->logged, step = n > 4000 ? n / 4000 : 1, i = 0;
	long mid = n / 2 - BENCH_PARTS / 2;
	char line[128];
	struct {
		double t, r;
	} parts[3][BENCH_PARTS];
	fprintf(out, "# t_s rtt_us (every %ld row)\n", step);
	while (fgets(line, sizeof(line), in)) {
		long conn, seq, t, r;
		if (sscanf(line, "%ld,%ld,%ld,%ld", &conn, &seq, &t, &r) != 4)
			continue;
		if (i % step == 0)
			fprintf(out, "%.6f %ld\n", (double)t / 1e6, r);
		int p = i < BENCH_PARTS ? 0 : i >= mid && i < mid + BENCH_PARTS ? 1 : i >= n - BENCH_PARTS ? 2 : -1;
		if (p >= 0) {
			long j = p == 0 ? i : p == 1 ? i - mid : i - (n - BENCH_PARTS);
			parts[p][j].t = (double)t / 1e6;
			parts[p][j].r = (double)r;
		}
		i++;
	}
	fclose(in);
	for (int p = 0; p < 3; p++) {
		fprintf(out, "\n\n# part %d\n", p);
		for (int j = 0; j < BENCH_PARTS && n >= 3 * BENCH_PARTS; j++)
			fprintf(out, "%.6f %.0f\n", parts[p][j].t, parts[p][j].r);
	}
	return fclose(out);
}

static const char *const plots[][3] = {
	/* name, title, what to plot (columns of plots.dat) */
	{"rtt_mean", "RTT mean, error bars one standard deviation (us)", "1:2:3 with yerrorlines"},
	{"rtt_p99", "RTT p99 (us)", "1:4 with linespoints"},
	{"cpu", "server CPU, % of one CPU (mean of 0.5 s samples, error bars one sd)",
	 "1:5:6 with yerrorlines"},
	{"memory", "server memory: PSS of the process tree, MiB (error bars one sd)",
	 "1:7:8 with yerrorlines"},
	{"msgs", "messages per second", "1:9 with linespoints"},
};

/* An undrawn line at 1 in every plot from 0: a figure that is 0 in every
 * cell (no monitor sample in a short window) was an empty y range that
 * gnuplot warned of, for each plot and each format. */
#define NOT_EMPTY ", 1 with lines lt nodraw notitle"

static int write_plots(const struct bench_cfg *cfg, const struct agg *a, int n, long timeline_clients)
{
	FILE *f = bench_open_in(cfg, "plots.gp");
	if (!f)
		return -1;
	fprintf(f, "# gnuplot script of this report: gnuplot plots.gp (in this directory)\n");
	fprintf(f, "models = \"");
	for (int m = 0, w = 0; m < cfg->nmodels; m++)
		if (model_ran(a, n, cfg->models[m]))
			fprintf(f, "%s%s", w++ ? " " : "", cfg->models[m]);
	fprintf(f, "\"\nset key outside right top\nset grid\nset xlabel 'concurrent clients'\n");
	fprintf(f, "set xtics (");
	for (int k = 0; k < cfg->ncounts; k++)
		fprintf(f, "%s%ld", k ? ", " : "", cfg->counts[k]);
	fprintf(f, ")\nset offsets graph 0.03, graph 0.03, graph 0.05, 0\n");
	/* One client count is a range of width 0: gnuplot warned "empty x
	 * range" for every plot, twice. */
	if (cfg->ncounts == 1)
		fprintf(f, "set xrange [%g:%g]\n", 0.5 * (double)cfg->counts[0], 1.5 * (double)cfg->counts[0]);
	for (size_t p = 0; p < sizeof(plots) / sizeof(plots[0]); p++) {
		char body[512];
		snprintf(body, sizeof(body),
			 "set title '%s'\nset yrange [0:*]\n"
			 "plot for [i=1:words(models)] 'plots.dat' index (i-1) using %s pointtype 7 "
			 "pointsize 0.8 title word(models, i)" NOT_EMPTY,
			 plots[p][1], plots[p][2]);
		bench_plot_both(f, plots[p][0], body);
	}
	/* --probe: its p99 per model (solid) beside the load's own (dashed). */
	if (cfg->probe_rate > 0) {
		char body[1024];
		snprintf(body, sizeof(body),
			 "set title 'RTT p99 of the latency probe (%g msgs/s on a connection of its own, solid) "
			 "and of the load (dashed), us'\nset yrange [0:*]\n"
			 "plot for [i=1:words(models)] 'plots.dat' index (i-1) using 1:11 with linespoints "
			 "linecolor i pointtype 7 pointsize 0.8 title word(models, i).' probe', "
			 "for [i=1:words(models)] 'plots.dat' index (i-1) using 1:4 with linespoints "
			 "linecolor i dashtype 2 pointtype 6 pointsize 0.8 title word(models, i).' load'" NOT_EMPTY,
			 cfg->probe_rate);
		bench_plot_both(f, "probe", body);
	}
	/* The RTT over one run per model, at the largest client count. */
	fprintf(f, "unset xtics\nset xtics\nset xlabel 'time since the start of the run (s)'\n"
		   "set logscale y\nset xrange [*:*]\nset yrange [*:*]\nset offsets 0, 0, 0, 0\n");
	for (int i = 0; i < n; i++) {
		if (a[i].clients != timeline_clients || !a[i].first || a[i].first->logged < 3 * BENCH_PARTS)
			continue;
		char dat[96], name[96], body[1024];
		snprintf(dat, sizeof(dat), "timeline-%s.dat", a[i].model);
		snprintf(name, sizeof(name), "timeline-%s", a[i].model);
		if (write_timeline(cfg, a[i].first, dat) < 0)
			continue;
		snprintf(body, sizeof(body),
			 "set title 'RTT of the logged connection, %s, %ld clients (us, log scale)'\n"
			 "plot '%s' index 0 using 1:2 with points pointtype 7 pointsize 0.25 lc rgb '#9aa5b1' "
			 "title 'every RTT', "
			 "'' index 1 using 1:2 with points pointtype 7 pointsize 0.7 lc rgb '#1f77b4' title 'first %d', "
			 "'' index 2 using 1:2 with points pointtype 7 pointsize 0.7 lc rgb '#2ca02c' title 'middle %d', "
			 "'' index 3 using 1:2 with points pointtype 7 pointsize 0.7 lc rgb '#d62728' title 'last %d'",
			 a[i].model, a[i].clients, dat, BENCH_PARTS, BENCH_PARTS, BENCH_PARTS);
		bench_plot_both(f, name, body);
	}
	fclose(f);
	return bench_gnuplot(cfg->dir, "plots.gp") ? 0 : -1;
}

/* One figure a verdict is about: its per-repeat values (stats), the
 * figure shown, and whether higher is better. */
struct metric {
	const char *best_word;  /* "highest msgs/s" */
	const char *unit;       /* printed after the value */
	int decimals;
	bool higher;
	const struct el_stats *(*of)(const struct agg *a);
	double (*shown)(const struct agg *a);
};

static const struct el_stats *rate_stats(const struct agg *a) { return &a->rate; }
static const struct el_stats *p99_stats(const struct agg *a) { return &a->p99; }
static const struct el_stats *eff_stats(const struct agg *a) { return &a->eff; }
static const struct el_stats *pss_stats(const struct agg *a) { return &a->pss_rep; }
static double rate_shown(const struct agg *a) { return a->rate.mean; }
static double p99_shown(const struct agg *a) { return el_hist_percentile(&a->hist, 99); }
static double eff_shown(const struct agg *a) { return per_cpu_s(a); }
static double pss_shown(const struct agg *a) { return a->pss.mean; }

static const struct metric metrics[] = {
	{"lowest p99", " us", 0, false, p99_stats, p99_shown},
	{"highest msgs/s", "", 0, true, rate_stats, rate_shown},
	{"most efficient", " msgs per server CPU-s", 0, true, eff_stats, eff_shown},
	{"least memory", " MiB PSS", 1, false, pss_stats, pss_shown},
};

/* A cell a verdict may use: it ran, served every client, had no error
 * and was not shaped by the generator. */
static bool clean(const struct agg *a)
{
	return a->ran && !a->errors && !a->short_runs && !a->invalid_runs && a->hist.total;
}

/* One verdict among the stable clean cells of a client count: the best
 * by mean, named only when its difference from the runner-up lies beyond
 * what their repeats show (the rule of --compare: the whole 95% interval
 * beyond BENCH_MIN_CHANGE_PCT). */
static void verdict(FILE *f, bool html, const struct metric *m, const struct agg *const *v, int nv, const char **sep)
{
	const char *b = html ? "<b>" : "**", *eb = html ? "</b>" : "**";
	const struct agg *best = NULL, *next = NULL;
	for (int i = 0; i < nv; i++) {
		if (!m->of(v[i])->n)
			continue;
		double x = m->of(v[i])->mean;
		if (!best || (m->higher ? x > m->of(best)->mean : x < m->of(best)->mean)) {
			next = best;
			best = v[i];
		} else if (!next || (m->higher ? x > m->of(next)->mean : x < m->of(next)->mean)) {
			next = v[i];
		}
	}
	if (!best)
		return;
	fputs(*sep, f);
	*sep = "; ";
	if (!next) {
		fprintf(f, "%s %s%s%s (%.*f%s)", m->best_word, b, best->model, eb, m->decimals, m->shown(best),
			m->unit);
		return;
	}
	/* The best against the runner-up: in percent of the runner-up. */
	struct bench_change c = bench_welch(m->of(next), m->of(best));
	int beyond = bench_change_beyond(&c, BENCH_MIN_CHANGE_PCT);
	if (!c.known) {
		fprintf(f, "%s %s%s%s (%.*f%s; one repeat: the spread is not measured, the next run may say "
			   "otherwise)",
			m->best_word, b, best->model, eb, m->decimals, m->shown(best), m->unit);
	} else if (beyond != 0) {
		fprintf(f, "%s %s%s%s (%.*f%s, %+.1f%% against %s, 95%% interval %+.1f to %+.1f)", m->best_word, b,
			best->model, eb, m->decimals, m->shown(best), m->unit, c.pct, next->model, c.lo, c.hi);
	} else {
		fprintf(f, "%s: no difference the runs can show between %s (%.*f%s) and %s (%.*f%s; %+.1f%%, 95%% "
			   "interval %+.1f to %+.1f)",
			m->best_word, best->model, m->decimals, m->shown(best), m->unit, next->model, m->decimals,
			m->shown(next), m->unit, c.pct, c.lo, c.hi);
	}
}

/* The spread of an unstable cell, for the verdicts and the tables:
 * "243,000-499,000" or "two groups: 2 at 490,120, 1 at 243,000". */
static void spread_text(const struct agg *a, char *buf, size_t len)
{
	const struct bench_spread *s = &a->spread;
	if (s->groups == 2)
		snprintf(buf, len, "two groups: %d at %.0f, %d at %.0f", s->high_n, s->high_median, s->low_n,
			 s->low_median);
	else
		snprintf(buf, len, "%.0f to %.0f, %.0f%% from the median", s->min, s->max, s->worst_pct);
}

/* A server that writes a log line per message spends on it what the
 * models (--quiet) do not: a student's thread server wrote 41 MB per cell
 * and used 123% CPU against the thread model's 102%, and the report said
 * nothing. Above 1 MB in a repeat, it says so, per server. */
static void output_notes(FILE *f, bool html, const struct bench_cfg *cfg, const struct agg *a, int n)
{
	for (int m = 0; m < cfg->nmodels; m++) {
		const struct agg *most = NULL;
		for (int i = 0; i < n; i++)
			if (strcmp(a[i].model, cfg->models[m]) == 0 && (!most || a[i].out_bytes > most->out_bytes))
				most = &a[i];
		if (!most || most->out_bytes < 1000000)
			continue;
		fprintf(f, "%sNote: **%s** wrote %.1f MB to its standard output in one repeat at %ld clients "
			   "(%.1f MB/s of its window; cells/…/server.log), where echolab's models run with --quiet: "
			   "its own logging costs it CPU the models do not spend, so the comparison is not like for "
			   "like. Run it without its per-message log to compare the servers alone.%s\n",
			html ? "<p>" : "", cfg->models[m], (double)most->out_bytes / 1e6, most->clients,
			most->out_window_s > 0 ? (double)most->out_bytes / 1e6 / most->out_window_s : 0,
			html ? "</p>" : "\n");
	}
}

/* Whether name is a server by command (--server NAME=CMD). */
static bool by_command(const struct bench_cfg *cfg, const char *name)
{
	for (int i = 0; i < cfg->nmodels; i++)
		if (cfg->cmds[i] && strcmp(cfg->models[i], name) == 0)
			return true;
	return false;
}

/* A server by command against every other cell of its client count:
 * msgs/s and p99, each change with its interval and the verdict of the
 * --compare rule, so that a student reads their server against each
 * model, not only the overall winner. */
static void against_models(FILE *f, bool html, const struct agg *mine, const struct agg *a, int n)
{
	for (int i = 0; i < n; i++) {
		const struct agg *o = &a[i];
		if (o == mine || o->clients != mine->clients || !o->ran)
			continue;
		fprintf(f, "%s%s against %s, %ld clients: ", html ? "<li>" : "- ", mine->model, o->model,
			mine->clients);
		if (!clean(o) || o->spread.unstable || mine->spread.unstable) {
			fprintf(f, "no verdict: %s.%s\n",
				!clean(o) ? "its cell had errors, was short of its clients or invalid"
					  : "a cell's repeats disagreed (UNSTABLE)",
				html ? "</li>" : "");
			continue;
		}
		struct bench_change r = bench_welch(&o->rate, &mine->rate), q = bench_welch(&o->p99, &mine->p99);
		if (!r.known || !q.known) {
			fprintf(f, "msgs/s %.0f against %.0f, p99 %.0f against %.0f us (one repeat: the spread is not "
				   "measured, no verdict).%s\n",
				mine->rate.mean, o->rate.mean, el_hist_percentile(&mine->hist, 99),
				el_hist_percentile(&o->hist, 99), html ? "</li>" : "");
			continue;
		}
		int rate = bench_change_beyond(&r, BENCH_MIN_CHANGE_PCT), p99 = bench_change_beyond(&q, BENCH_MIN_CHANGE_PCT);
		bool worse = rate < 0 || p99 > 0, better = rate > 0 || p99 < 0;
		fprintf(f, "msgs/s %+.1f%% (95%% interval %+.1f to %+.1f), p99 %+.1f%% (%+.1f to %+.1f): %s.%s\n", r.pct,
			r.lo, r.hi, q.pct, q.lo, q.hi,
			worse && better ? "mixed" : worse ? "slower" : better ? "faster" : "no difference the runs can show",
			html ? "</li>" : "");
	}
}

/* Verdicts: per client count, the model with the lowest p99, the highest
 * msgs/s, the most messages per server CPU-second and the least memory,
 * among those that ran without errors and whose repeats agree; each named
 * only beyond the spread its repeats show. */
static void verdicts(FILE *f, bool html, const struct bench_cfg *cfg, const struct agg *a, int n)
{
	for (int k = 0; k < cfg->ncounts; k++) {
		const struct agg *v[BENCH_MAX_MODELS];
		int nv = 0, nclean = 0, bad = 0;
		char unstable[512] = "";
		size_t ul = 0;
		for (int i = 0; i < n; i++) {
			if (a[i].clients != cfg->counts[k])
				continue;
			if (!clean(&a[i])) {
				bad++;
				continue;
			}
			nclean++;
			if (a[i].spread.unstable) {
				char sp[128];
				spread_text(&a[i], sp, sizeof(sp));
				ul += (size_t)snprintf(unstable + ul, ul < sizeof(unstable) ? sizeof(unstable) - ul : 0,
						       "%s%s (%s)", ul ? ", " : "", a[i].model, sp);
				if (ul >= sizeof(unstable))
					ul = sizeof(unstable);
				continue;
			}
			if (nv < BENCH_MAX_MODELS)
				v[nv++] = &a[i];
		}
		const char *li = html ? "<li>" : "- ";
		if (!nclean) {
			fprintf(f, "%s%ld clients: no model served them all without errors.%s\n", li,
				cfg->counts[k], html ? "</li>" : "");
			continue;
		}
		fprintf(f, "%s%ld clients", li, cfg->counts[k]);
		const char *sep = ": ";
		if (!nv) {
			fprintf(f, ": no verdict, every model's repeats disagreed");
			sep = "; ";
		}
		for (size_t m = 0; nv && m < sizeof(metrics) / sizeof(metrics[0]); m++)
			verdict(f, html, &metrics[m], v, nv, &sep);
		if (unstable[0])
			fprintf(f, "%sUNSTABLE, left out (repeats more than %.0f%% from their median): %s",
				sep, BENCH_STABLE_PCT, unstable);
		if (unstable[0])
			sep = "; ";
		if (bad)
			fprintf(f, "%s%d model%s with errors, short of the clients or invalid left out", sep, bad,
				bad == 1 ? "" : "s");
		fprintf(f, ".%s\n", html ? "</li>" : "");
		for (int i = 0; i < n; i++)
			if (a[i].clients == cfg->counts[k] && clean(&a[i]) && by_command(cfg, a[i].model))
				against_models(f, html, &a[i], a, n);
	}
}

/* A Markdown or HTML table row from cells separated by '|'. */
static void row(FILE *f, bool html, bool head, const char *cells)
{
	if (!html) {
		fprintf(f, "| %s |\n", cells);
		if (head) {
			fprintf(f, "|");
			for (const char *p = cells; *p; p++)
				if (*p == '|')
					fprintf(f, "---|");
			fprintf(f, "---|\n");
		}
		return;
	}
	fprintf(f, "<tr>");
	const char *tag = head ? "th" : "td";
	const char *p = cells;
	while (1) {
		const char *e = strchr(p, '|');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		while (len && p[len - 1] == ' ')
			len--;
		while (*p == ' ' && len) {
			p++;
			len--;
		}
		fprintf(f, "<%s>%.*s</%s>", tag, (int)len, p, tag);
		if (!e)
			break;
		p = e + 1;
	}
	fprintf(f, "</tr>\n");
}

static void tables(FILE *f, bool html, const struct bench_cfg *cfg, const struct agg *a, int n)
{
	char buf[1024];
	for (int k = 0; k < cfg->ncounts; k++) {
		fprintf(f, html ? "<h3>%ld clients</h3>\n<table>\n" : "\n### %ld clients\n\n", cfg->counts[k]);
		row(f, html, true,
		    "model | msgs/s | RTT mean ± sd (us) | RTT variance (us²) | p50 | p99 | p99.9 | max | "
		    "CPU % ± sd | msgs per CPU-s | PSS MiB ± sd | procs | threads | errors | clients served");
		for (int i = 0; i < n; i++) {
			if (a[i].clients != cfg->counts[k])
				continue;
			if (!a[i].ran) {
				snprintf(buf, sizeof(buf), "%s | did not run: %s | | | | | | | | | | | | |", a[i].model,
					 a[i].failure);
				row(f, html, false, buf);
				continue;
			}
			const struct el_stats *st = &a[i].hist.stats;
			bool has = st->n > 0;
			/* Two groups are shown as two: their mean is a figure no
			 * run had. */
			char rate[160];
			if (a[i].spread.unstable && a[i].spread.groups == 2)
				snprintf(rate, sizeof(rate), "UNSTABLE, two groups: %d at %.0f, %d at %.0f",
					 a[i].spread.high_n, a[i].spread.high_median, a[i].spread.low_n,
					 a[i].spread.low_median);
			else if (a[i].ran > 1)
				snprintf(rate, sizeof(rate), "%s%.0f (%.0f–%.0f)", a[i].spread.unstable ? "UNSTABLE: " : "",
					 a[i].rate.mean, a[i].rate.min, a[i].rate.max);
			else
				snprintf(rate, sizeof(rate), "%.0f", a[i].rate.mean);
			/* The clients the load saw answered and, where the model has
			 * one process or thread per connection, those the server
			 * held: a short cell says so in its row. */
			char served[256];
			int w = snprintf(served, sizeof(served), "%s%ld of %ld", a[i].short_runs ? "SHORT: " : "",
					 a[i].reached, a[i].clients);
			if (a[i].server_conns >= 0)
				w += snprintf(served + w, sizeof(served) - (size_t)w, ", server held %ld–%ld",
					      a[i].server_conns_min, a[i].server_conns);
			/* Explained in the text above the tables. */
			if (a[i].loop_ratio > 0 && w < (int)sizeof(served))
				w += snprintf(served + w, sizeof(served) - (size_t)w, "; loops %.2f:1", a[i].loop_ratio);
			if (a[i].invalid_runs && w < (int)sizeof(served))
				snprintf(served + w, sizeof(served) - (size_t)w, "; INVALID: %s", a[i].invalid);
			snprintf(buf, sizeof(buf),
				 "%s | %s | %.0f ± %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f ± %.1f | %.0f | %.1f ± %.2f | "
				 "%ld | %ld | %llu | %s",
				 a[i].model, rate, st->mean, el_stats_stddev(st), el_stats_variance(st),
				 has ? el_hist_percentile(&a[i].hist, 50) : 0,
				 has ? el_hist_percentile(&a[i].hist, 99) : 0,
				 has ? el_hist_percentile(&a[i].hist, 99.9) : 0, has ? st->max : 0, a[i].cpu.mean,
				 el_stats_stddev(&a[i].cpu), per_cpu_s(&a[i]), a[i].pss.mean, el_stats_stddev(&a[i].pss), a[i].procs,
				 a[i].threads, (unsigned long long)a[i].errors, served);
			row(f, html, false, buf);
		}
		if (html)
			fprintf(f, "</table>\n");
	}

	fprintf(f, html ? "<h2>RTT at the start, middle and end of a run</h2>\n<p>"
			: "\n## RTT at the start, middle and end of a run\n\n");
	fprintf(f, "Mean RTT (us) of the first, middle and last %d messages of the logged connection "
		   "(connection 0; warm-up included, as the lab's experiment logged its first client from "
		   "its start)%s.%s\n",
		BENCH_PARTS, cfg->repeats > 1 ? ", averaged over the repeats" : "", html ? "</p><table>" : "\n");
	char head[512] = "model";
	for (int k = 0; k < cfg->ncounts; k++) {
		size_t l = strlen(head);
		snprintf(head + l, sizeof(head) - l, " | %ld: first / middle / last", cfg->counts[k]);
	}
	row(f, html, true, head);
	for (int m = 0; m < cfg->nmodels; m++) {
		size_t l = (size_t)snprintf(buf, sizeof(buf), "%s", cfg->models[m]);
		for (int k = 0; k < cfg->ncounts; k++) {
			const struct agg *x = NULL;
			for (int i = 0; i < n; i++)
				if (a[i].clients == cfg->counts[k] && strcmp(a[i].model, cfg->models[m]) == 0)
					x = &a[i];
			if (x && x->nparts)
				l += (size_t)snprintf(buf + l, sizeof(buf) - l, " | %.0f / %.0f / %.0f", x->parts[0],
						      x->parts[1], x->parts[2]);
			else
				l += (size_t)snprintf(buf + l, sizeof(buf) - l, " | too few RTTs");
			if (l >= sizeof(buf))
				break;
		}
		row(f, html, false, buf);
	}
	if (html)
		fprintf(f, "</table>\n");
}

/* --probe: per cell, the probe's RTTs beside the load's own p99. */
static void probe_table(FILE *f, bool html, const struct bench_cfg *cfg, const struct agg *a, int n)
{
	fprintf(f, html ? "<h2>Latency under load: the probe</h2>\n<p>" : "\n## Latency under load: the probe\n\n");
	fprintf(f, "One more connection in every cell sent %g msgs/s on its own fixed schedule through the "
		   "window while the clients made the load: its RTTs are the server's latency without the "
		   "load generator's own queueing.%s\n",
		cfg->probe_rate, html ? "</p><table>" : "\n");
	row(f, html, true, "model | clients | probe replies | probe p50 (us) | probe p99 (us) | load p99 (us)");
	for (int i = 0; i < n; i++) {
		char buf[512];
		if (!a[i].ran)
			continue;
		if (!a[i].probe.total)
			snprintf(buf, sizeof(buf), "%s | %ld | none: %s | | | %.0f", a[i].model, a[i].clients,
				 a[i].first && a[i].first->probe_failure[0] ? a[i].first->probe_failure : "no reply",
				 a[i].hist.total ? el_hist_percentile(&a[i].hist, 99) : 0);
		else
			snprintf(buf, sizeof(buf), "%s | %ld | %llu | %.0f | %.0f | %.0f", a[i].model, a[i].clients,
				 (unsigned long long)a[i].probe.total, el_hist_percentile(&a[i].probe, 50),
				 el_hist_percentile(&a[i].probe, 99),
				 a[i].hist.total ? el_hist_percentile(&a[i].hist, 99) : 0);
		row(f, html, false, buf);
	}
	if (html)
		fprintf(f, "</table>\n");
}

int bench_report(const struct bench_cfg *cfg, struct bench_cell *cells, int ncells)
{
	struct agg *a = calloc((size_t)cfg->nmodels * (size_t)cfg->ncounts, sizeof(*a));
	if (!a)
		return -1;
	int n = aggregate(cfg, cells, ncells, a);
	int rc = write_summary(cfg, a, n) == 0 && write_summary_json(cfg) == 0 && write_plot_data(cfg, a, n) == 0 ? 0 : -1;
	long largest = 0;
	for (int k = 0; k < cfg->ncounts; k++)
		if (cfg->counts[k] > largest)
			largest = cfg->counts[k];
	/* Nothing to draw when no cell ran: gnuplot would only complain. */
	int ran = 0;
	for (int i = 0; i < n; i++)
		ran += a[i].ran;
	bool plotted = ran > 0 && write_plots(cfg, a, n, largest) == 0;
	char load_by[64];
	if (cfg->processes)
		snprintf(load_by, sizeof(load_by), "the load generator's epoll loops in %d process%s", cfg->processes,
			 cfg->processes == 1 ? "" : "es");
	else
		snprintf(load_by, sizeof(load_by), "%s",
			 cfg->spawn ? "one process per client" : "the load generator's epoll loops");

	for (int html = 0; html < 2; html++) {
		FILE *f = bench_open_in(cfg, html ? "report.html" : "report.md");
		if (!f) {
			rc = -1;
			continue;
		}
		bench_report_head(f, html, cfg, "echolab benchmark", "echolab benchmark: server models under the lab's load");
		fprintf(f, "%sThe lab: a network-programming course's assignment that built an echo server "
			   "iteratively, with a process and with a thread per client, and loaded each with 30 to "
			   "500 clients sending one message at a time; this runs that experiment for every model."
			   "%s\n",
			html ? "<p>" : "", html ? "</p>" : "\n");
		fprintf(f, "%sEach cell: the server (--quiet), its process tree sampled every "
			   "%.1f s, then %ld-byte messages in a closed loop (one in flight per connection, the "
			   "lab's design) for %.1f s after %.1f s of warm-up, over %s; %d repeat%s. "
			   "Load generator and server share this machine's CPUs.%s\n",
			html ? "<p>" : "", cfg->interval_s, (long)cfg->msg_size, cfg->duration_s, cfg->warmup_s,
			load_by, cfg->repeats,
			cfg->repeats == 1 ? "" : "s", html ? "</p>" : "\n");
		if (cfg->repeats > 1)
			fprintf(f, "%sThe repeats go round the whole grid (every model once, then again), each "
				   "with a server of its own. msgs/s is their mean and range; a cell whose repeats lie "
				   "more than %.0f%% from their median is UNSTABLE (two groups of repeats are shown "
				   "as two), and no verdict is drawn from it. A verdict names a model only when its "
				   "difference from the runner-up holds beyond the spread of both: the whole 95%% "
				   "interval of the change (Welch) beyond %.0f%%, the rule of --compare.%s\n",
				html ? "<p>" : "", BENCH_STABLE_PCT, BENCH_MIN_CHANGE_PCT, html ? "</p>" : "\n");
		fprintf(f, "%s\"Clients served\" says how many clients the load saw answered; for a model with "
			   "a process or thread per client, \"server held A–B\" is the fewest and the most the "
			   "server's own tree held in the window; for a model with several event loops, \"loops "
			   "R:1\" is the most connections one loop held at once over the fewest another held (1.00: "
			   "dealt evenly; summary.csv's loop_conns_ratio, the worst repeat's).%s\n",
			html ? "<p>" : "", html ? "</p>" : "\n");
		output_notes(f, html, cfg, a, n);
		fprintf(f, html ? "<h2>Verdicts</h2>\n<ul>\n" : "## Verdicts\n\n");
		verdicts(f, html, cfg, a, n);
		fprintf(f, html ? "</ul>\n<h2>Results</h2>\n" : "\n## Results\n");
		tables(f, html, cfg, a, n);
		if (cfg->probe_rate > 0)
			probe_table(f, html, cfg, a, n);
		fprintf(f, html ? "<h2>Plots</h2>\n" : "\n## Plots\n\n");
		if (!ran)
			fprintf(f, "%sNo plots: no cell ran (each row above says why).%s\n", html ? "<p>" : "",
				html ? "</p>" : "");
		else if (!plotted)
			fprintf(f, "%sNo plots: gnuplot is missing or failed (the data is in plots.dat and "
				   "plots.gp, its messages in gnuplot.log).%s\n",
				html ? "<p>" : "", html ? "</p>" : "");
		for (size_t p = 0; plotted && p < sizeof(plots) / sizeof(plots[0]); p++) {
			if (html)
				bench_inline_svg(f, cfg, plots[p][0]);
			else
				fprintf(f, "![%s](%s.png)\n\n", plots[p][1], plots[p][0]);
		}
		if (plotted && cfg->probe_rate > 0) {
			if (html)
				bench_inline_svg(f, cfg, "probe");
			else
				fprintf(f, "![RTT p99 of the latency probe and of the load](probe.png)\n\n");
		}
		for (int i = 0; plotted && i < n; i++) {
			if (a[i].clients != largest || !a[i].first || a[i].first->logged < 3 * BENCH_PARTS)
				continue;
			char name[96];
			snprintf(name, sizeof(name), "timeline-%s", a[i].model);
			if (html)
				bench_inline_svg(f, cfg, name);
			else
				fprintf(f, "![RTT timeline, %s, %ld clients](%s.png)\n\n", a[i].model, largest, name);
		}
		fprintf(f, html ? "<h2>Files</h2>\n<p>" : "## Files\n\n");
		fprintf(f, "summary.csv (one row per model and client count), plots.dat and plots.gp (the "
			   "plots' data and script), and per cell in cells/MODEL-CLIENTS: rtt.csv (every RTT of "
			   "connection 0: conn,seq,t_send_us,rtt_us), rtt.hgrm (HdrHistogram percentile "
			   "distribution, ms), load.json, monitor.csv (echolab-monitor's columns), monitor.err, server.log, "
			   "server.err.%s\n",
			html ? "</p>\n</body></html>" : "");
		if (fclose(f) != 0)
			rc = -1;
	}
	free(a);
	return rc;
}

