/* What a load run's result says of itself: whether it measured what was
 * asked (valid, and the reasons it did not), and its JSON, which merge
 * reads back. Apart from the engine (load.c): it reads only the result. */
#include "load.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "intervals.h"
#include "json.h"

static void invalid(struct el_load_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void invalid(struct el_load_result *r, const char *fmt, ...)
{
	r->valid = false;
	if (r->nreasons == EL_LOAD_MAX_REASONS)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->reasons[r->nreasons++], sizeof(r->reasons[0]), fmt, ap);
	va_end(ap);
}

bool el_load_no_server(const struct el_load_result *r)
{
	return r->reached == 0 && r->replies == 0 && r->errors[EL_LOAD_REFUSED] > 0 &&
	       r->errors_total == r->errors[EL_LOAD_REFUSED];
}

void el_load_validate(const struct el_load_cfg *cfg, struct el_load_result *r)
{
	r->valid = true;
	r->nreasons = 0;
	r->offered = cfg->rate > 0 ? cfg->rate * (double)cfg->conns : 0;
	/* The generator's own rate: the sends it came to, on time or late,
	 * whether or not their connection was up (a server's resets are
	 * errors, not the generator's shortfall). */
	r->sent_per_s = r->window_s > 0 ? (double)r->scheduled / r->window_s : 0;
	/* Nothing was measured, so the run is not valid; but nothing the
	 * generator did shaped it either: the one reason names the server. */
	if (el_load_no_server(r)) {
		invalid(r, "no connection was accepted");
		return;
	}
	if (r->reached < cfg->conns)
		invalid(r, "connections: %ld of %ld answered", r->reached, cfg->conns);
	if (r->offered > 0 && r->window_s > 0 && cfg->count <= 0 && r->sent_per_s < 0.95 * r->offered)
		invalid(r, "sent %.0f of %.0f msgs/s offered (%.1f%%)", r->sent_per_s, r->offered,
			100 * r->sent_per_s / r->offered);
	if (r->offered > 0 && r->late.total > 0) {
		double gap_us = 1e6 / cfg->rate, p99 = el_hist_percentile(&r->late, 99);
		if (p99 > gap_us / 10)
			invalid(r, "sends late: p99 %.0f us, over a tenth of the %.0f us gap", p99, gap_us);
	}
}

void el_load_write_json_validity(FILE *f, bool valid, int nreasons, const char (*reasons)[96])
{
	fprintf(f, "  \"valid\": %s,\n  \"invalid_reasons\": [", valid ? "true" : "false");
	for (int i = 0; i < nreasons; i++) {
		fputs(i ? ", " : "", f);
		el_json_cstring(f, reasons[i]);
	}
	fputs("],\n", f);
}

void el_load_write_json_figures(FILE *f, uint64_t messages, double window_s, double msgs_per_s,
				const uint64_t *errors, const struct el_hist *h, const double *pcts, int npct)
{
	const struct el_stats *st = &h->stats;
	uint64_t total = 0;
	for (int k = 0; k < EL_LOAD_NERRORS; k++)
		total += errors[k];
	fprintf(f, "  \"messages\": %llu,\n  \"msgs_per_s\": %.3f,\n", (unsigned long long)messages, msgs_per_s);
	fprintf(f, "  \"errors\": {\"total\": %llu", (unsigned long long)total);
	for (int k = 0; k < EL_LOAD_NERRORS; k++)
		fprintf(f, ", \"%s\": %llu", el_load_error_name(k), (unsigned long long)errors[k]);
	fprintf(f, "},\n  \"rtt_us\": {\n    \"count\": %llu,\n    \"min\": %.0f,\n    \"mean\": %.3f,\n",
		(unsigned long long)st->n, st->n ? st->min : 0.0, st->mean);
	fprintf(f, "    \"stddev\": %.3f,\n    \"variance\": %.3f,\n    \"max\": %.0f", el_stats_stddev(st),
		el_stats_variance(st), st->n ? st->max : 0.0);
	for (int i = 0; i < npct; i++)
		fprintf(f, ",\n    \"p%g\": %.1f", pcts[i], el_hist_percentile(h, pcts[i]));
	/* Exactly what a merge needs: the moments to the last bit (%.17g
	 * reads back as the same double) and every non-empty bucket. */
	fprintf(f, "\n  },\n  \"merge\": {\n    \"format\": 1,\n    \"hist_sub_bits\": %d,\n"
		   "    \"hist_max_bits\": %d,\n    \"window_s\": %.17g,\n",
		EL_HIST_SUB_BITS, EL_HIST_MAX_BITS, window_s);
	fprintf(f, "    \"n\": %llu,\n    \"mean\": %.17g,\n    \"m2\": %.17g,\n    \"min\": %.17g,\n"
		   "    \"max\": %.17g,\n    \"buckets\": [",
		(unsigned long long)st->n, st->mean, st->m2, st->n ? st->min : 0.0, st->n ? st->max : 0.0);
	bool first = true;
	for (size_t b = 0; b < EL_HIST_BUCKETS; b++) {
		if (!h->counts[b])
			continue;
		fprintf(f, "%s[%zu, %llu]", first ? "" : ", ", b, (unsigned long long)h->counts[b]);
		first = false;
	}
	fprintf(f, "]\n  }\n}\n");
}

void el_load_write_json(FILE *f, const struct el_load_cfg *cfg, const struct el_load_result *r,
			const double *pcts, int npct, bool interrupted)
{
	fprintf(f,
		"{\n  \"connections\": %ld,\n  \"threads\": %d,\n  \"spawn\": %s,\n  \"processes\": %d,\n  "
		"\"pinned\": %s,\n",
		cfg->conns, cfg->spawn || cfg->processes ? 0 : cfg->threads, cfg->spawn ? "true" : "false",
		cfg->processes, cfg->pin ? "true" : "false");
	fprintf(f, "  \"connections_reached\": %ld,\n", r->reached);
	if (r->ready >= 0)
		fprintf(f, "  \"connections_ready\": %ld,\n", r->ready);
	fprintf(f, "  \"loop\": \"%s\",\n  \"rate_per_conn\": %g,\n  \"message_bytes\": %zu,\n",
		cfg->rate > 0 ? "open" : "closed", cfg->rate, cfg->msg_len);
	if (cfg->rate > 0 && cfg->burst > 1)
		fprintf(f, "  \"arrival\": \"burst\",\n  \"burst\": %d,\n", cfg->burst);
	else if (cfg->rate > 0)
		fprintf(f, "  \"arrival\": \"%s\",\n", cfg->poisson ? "poisson" : "fixed");
	if (cfg->rate > 0 && cfg->poisson)
		fprintf(f, "  \"seed\": %llu,\n", (unsigned long long)cfg->seed);
	if (cfg->session > 0) {
		fprintf(f, "  \"session\": %ld,\n  \"sessions\": %llu,\n  \"sessions_per_s\": %.3f,\n", cfg->session,
			(unsigned long long)r->sessions, r->window_s > 0 ? (double)r->sessions / r->window_s : 0);
		const struct el_hist *hs[] = {&r->connect, &r->first_reply};
		const char *names[] = {"connect_us", "first_reply_us"};
		for (int i = 0; i < 2; i++)
			fprintf(f, "  \"%s\": {\"count\": %llu, \"mean\": %.1f, \"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, "
				   "\"max\": %.0f},\n",
				names[i], (unsigned long long)hs[i]->total, hs[i]->stats.mean,
				hs[i]->total ? el_hist_percentile(hs[i], 50) : 0, hs[i]->total ? el_hist_percentile(hs[i], 90) : 0,
				hs[i]->total ? el_hist_percentile(hs[i], 99) : 0, hs[i]->stats.n ? hs[i]->stats.max : 0);
	}
	if (r->fit_n > 0)
		fprintf(f, "  \"arrival_fit\": {\"test\": \"anderson-darling\", \"against\": \"exponential, mean %.1f us\", "
			   "\"gaps\": %zu, \"resolution_us\": %.0f, \"statistic\": %.4f, \"p_value\": %.4g},\n",
			1e6 / cfg->rate, r->fit_n, r->fit_resolution_us, r->fit_a2, r->fit_p);
	fprintf(f, "  \"raw\": %s,\n  \"warmup_s\": %g,\n  \"window_s\": %.6f,\n  \"interrupted\": %s,\n",
		cfg->raw ? "true" : "false", cfg->warmup_s, r->window_s, interrupted ? "true" : "false");
	if (cfg->seg_count > 0)
		fprintf(f, "  \"segment\": {\"index\": %d, \"count\": %d, \"from\": \"%s\"},\n", cfg->seg_index,
			cfg->seg_count, cfg->seg_from ? cfg->seg_from : "--segment");
	fprintf(f, "  \"window_start_unix\": %.6f,\n", r->window_start_unix);
	fprintf(f, "  \"connections_requested\": %ld,\n", cfg->conns);
	if (r->offered > 0) {
		const struct el_hist *h = &r->late;
		fprintf(f, "  \"offered_msgs_per_s\": %.3f,\n  \"sent_msgs_per_s\": %.3f,\n  \"lateness_us\": {\"count\": %llu, \"p50\": %.1f, "
			   "\"p99\": %.1f, \"max\": %.0f, \"late_threshold_us\": %.1f, \"late_sends\": %llu, \"early_sends\": %llu},\n"
			   "  \"sends_not_made\": %llu,\n",
			r->offered, r->sent_per_s, (unsigned long long)h->total, h->total ? el_hist_percentile(h, 50) : 0,
			h->total ? el_hist_percentile(h, 99) : 0, h->stats.n ? h->stats.max : 0, 1e5 / cfg->rate,
			(unsigned long long)r->late_sends, (unsigned long long)r->early_sends,
			(unsigned long long)r->unsent);
	}
	el_load_write_json_validity(f, r->valid, r->nreasons, (const char (*)[96])r->reasons);
	if (r->intervals)
		el_intervals_write_json(r->intervals, f);
	if (r->probe) {
		const struct el_hist *h = &r->probe->hist;
		fprintf(f, "  \"probe\": {\"rate\": %g, \"replies\": %llu, \"window_s\": %.3f, \"errors\": %llu, "
			   "\"valid\": %s, \"rtt_us\": {\"mean\": %.1f, \"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, "
			   "\"p99.9\": %.1f, \"max\": %.0f}},\n",
			r->probe_rate, (unsigned long long)r->probe->messages, r->probe->window_s,
			(unsigned long long)r->probe->errors_total, r->probe->valid ? "true" : "false", h->stats.mean,
			h->total ? el_hist_percentile(h, 50) : 0, h->total ? el_hist_percentile(h, 90) : 0,
			h->total ? el_hist_percentile(h, 99) : 0, h->total ? el_hist_percentile(h, 99.9) : 0,
			h->stats.n ? h->stats.max : 0);
	}
	if (cfg->start_at_unix > 0)
		fprintf(f, "  \"start_at_unix\": %.6f,\n  \"start_late_s\": %.6f,\n", cfg->start_at_unix,
			r->start_late_s);
	el_load_write_json_figures(f, r->messages, r->window_s,
				   r->window_s > 0 ? (double)r->messages / r->window_s : 0, r->errors, &r->hist,
				   pcts, npct);
}
