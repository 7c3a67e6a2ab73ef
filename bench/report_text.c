/* The experiment's report, its text: the verdicts (the best model of a
 * client count, named only beyond the spread of its repeats), the notes,
 * and the results' tables (report.c writes the files around them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "report.h"

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
static double eff_shown(const struct agg *a) { return bench_agg_per_cpu_s(a); }
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
void bench_report_output_notes(FILE *f, bool html, const struct bench_cfg *cfg, const struct agg *a, int n)
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
void bench_report_verdicts(FILE *f, bool html, const struct bench_cfg *cfg, const struct agg *a, int n)
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

void bench_report_tables(FILE *f, bool html, const struct bench_cfg *cfg, const struct agg *a, int n)
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
				 el_stats_stddev(&a[i].cpu), bench_agg_per_cpu_s(&a[i]), a[i].pss.mean, el_stats_stddev(&a[i].pss), a[i].procs,
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
void bench_report_probe_table(FILE *f, bool html, const struct bench_cfg *cfg, const struct agg *a, int n)
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
