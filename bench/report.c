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
#include "report.h"


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
double bench_agg_per_cpu_s(const struct agg *a)
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
		fprintf(f, "%.0f,%s,", bench_agg_per_cpu_s(&a[i]), a[i].invalid_runs ? "no" : "yes");
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
		bench_report_output_notes(f, html, cfg, a, n);
		fprintf(f, html ? "<h2>Verdicts</h2>\n<ul>\n" : "## Verdicts\n\n");
		bench_report_verdicts(f, html, cfg, a, n);
		fprintf(f, html ? "</ul>\n<h2>Results</h2>\n" : "\n## Results\n");
		bench_report_tables(f, html, cfg, a, n);
		if (cfg->probe_rate > 0)
			bench_report_probe_table(f, html, cfg, a, n);
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

