/* echolab-load merge: exact on fixtures with known buckets, exact against
 * the union of the values for summaries written by echolab-load's own
 * writer, and every malformed input refused with the file's name. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load.h"
#include "merge.h"

static char *fixture(const char *name)
{
	static char path[1024];
	snprintf(path, sizeof(path), "%s/merge/%s", getenv("ECHOLAB_FIXTURES"), name);
	return path;
}

static struct el_load_summary *read_ok(const char *path)
{
	struct el_load_summary *s = malloc(sizeof(*s));
	cr_assert_not_null(s);
	char err[512];
	cr_assert_eq(el_load_summary_read(path, s, err, sizeof(err)), 0, "%s: %s", path, err);
	return s;
}

/* a.json: 10 three times (one reset); b.json, keys in another order and
 * another layout: 20 once (2 busy, 3 timeouts), interrupted. */
Test(merge, fixtures_with_known_buckets)
{
	struct el_load_summary *a = read_ok(fixture("a.json")), *b = read_ok(fixture("b.json"));
	el_load_summary_merge(a, b);
	cr_expect_eq(a->conns, 5);
	cr_expect_eq(a->messages, 4);
	cr_expect_eq(a->errors[EL_LOAD_RESET], 1);
	cr_expect_eq(a->errors[EL_LOAD_BUSY], 2);
	cr_expect_eq(a->errors[EL_LOAD_TIMEOUT], 3);
	cr_expect_eq(a->files, 2);
	cr_expect_eq(a->interrupted, 1, "b.json was interrupted");
	cr_expect_float_eq(a->msgs_per_s, 3.5, 1e-12);
	cr_expect_float_eq(a->window_s, 2, 1e-12);
	cr_expect_float_eq(a->last_start_unix - a->first_start_unix, 0.004, 1e-6);
	const struct el_stats *st = &a->hist.stats;
	cr_expect_eq(st->n, 4);
	cr_expect_float_eq(st->mean, 12.5, 1e-12);
	/* Chan's formula: 0 + 0 + (20 - 10)^2 * 3 * 1 / 4 = 75. */
	cr_expect_float_eq(st->m2, 75, 1e-12);
	cr_expect_float_eq(el_stats_variance(st), 18.75, 1e-12);
	cr_expect_float_eq(st->min, 10, 0);
	cr_expect_float_eq(st->max, 20, 0);
	cr_expect_float_eq(el_hist_percentile(&a->hist, 50), 10, 0);
	cr_expect_float_eq(el_hist_percentile(&a->hist, 75), 10, 0);
	cr_expect_float_eq(el_hist_percentile(&a->hist, 99), 20, 0);
	free(a);
	free(b);
}

/* Writes a summary of values with echolab-load's own writer. */
static void write_summary(const char *path, const struct el_hist *h, uint64_t messages, bool interrupted)
{
	struct el_load_cfg cfg = {.conns = 7, .threads = 1, .msg_len = 64, .warmup_s = 0};
	struct el_load_result *r = calloc(1, sizeof(*r));
	cr_assert_not_null(r);
	r->hist = *h;
	r->messages = messages;
	r->window_s = 1.5;
	r->reached = 7;
	r->ready = -1;
	r->errors[EL_LOAD_WRONG] = 2;
	r->errors_total = 2;
	static const double pcts[] = {50, 99};
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	el_load_write_json(f, &cfg, r, pcts, 2, interrupted);
	cr_assert_eq(fclose(f), 0);
	free(r);
}

/* Three summaries of different value sets merge into exactly the
 * histogram and moments of their union. */
Test(merge, equals_the_union_of_the_values)
{
	struct el_hist *parts = calloc(3, sizeof(*parts)), *all = calloc(1, sizeof(*all));
	cr_assert(parts && all);
	el_hist_init(all);
	unsigned seed = 7;
	for (int p = 0; p < 3; p++) {
		el_hist_init(&parts[p]);
		for (int i = 0; i < 5000 * (p + 1); i++) {
			seed = seed * 1103515245u + 12345u;
			/* Three different spreads: tens of us, ms, a long tail. */
			int64_t v = p == 0 ? 20 + seed % 200 : p == 1 ? 1000 + seed % 9000 : (int64_t)(seed % 2000000);
			el_hist_add(&parts[p], v);
			el_hist_add(all, v);
		}
	}
	char dir[] = "/tmp/echolab-merge-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	struct el_load_summary *sum = malloc(sizeof(*sum));
	cr_assert_not_null(sum);
	el_load_summary_init(sum);
	for (int p = 0; p < 3; p++) {
		char path[128];
		snprintf(path, sizeof(path), "%s/%d.json", dir, p);
		write_summary(path, &parts[p], parts[p].total, p == 1);
		struct el_load_summary *one = read_ok(path);
		el_load_summary_merge(sum, one);
		free(one);
		unlink(path);
	}
	rmdir(dir);
	cr_expect_eq(sum->hist.total, all->total);
	for (size_t b = 0; b < EL_HIST_BUCKETS; b++)
		cr_assert_eq(sum->hist.counts[b], all->counts[b], "bucket %zu", b);
	static const double pcts[] = {0, 1, 50, 90, 99, 99.9, 99.99, 100};
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		cr_expect_float_eq(el_hist_percentile(&sum->hist, pcts[i]), el_hist_percentile(all, pcts[i]), 0,
				   "p%g", pcts[i]);
	const struct el_stats *m = &sum->hist.stats, *u = &all->stats;
	cr_expect_eq(m->n, u->n);
	cr_expect_float_eq(m->mean, u->mean, 1e-9 * u->mean);
	cr_expect_float_eq(el_stats_variance(m), el_stats_variance(u), 1e-9 * el_stats_variance(u));
	cr_expect_float_eq(m->min, u->min, 0);
	cr_expect_float_eq(m->max, u->max, 0);
	cr_expect_eq(sum->messages, all->total);
	cr_expect_eq(sum->errors[EL_LOAD_WRONG], 6);
	cr_expect_eq(sum->conns, 21);
	cr_expect_eq(sum->interrupted, 1);
	free(sum);
	free(parts);
	free(all);
}

/* Each malformed input is refused, naming the file and what is wrong. */
Test(merge, malformed_inputs_are_refused)
{
	static const struct {
		const char *text, *says;
	} cases[] = {
		{"", "not an echolab-load --json summary"},
		{"{\"connections\": 1,", "not an echolab-load --json summary"},
		{"[1, 2]", "not an echolab-load --json summary"},
		{"{\"merge\": {\"format\": 2}}", "another format"},
		{"{\"merge\": {\"format\": 1, \"hist_sub_bits\": 8, \"hist_max_bits\": 40}}", "another format"},
		{"{\"connections\": 1, \"messages\": 1, \"msgs_per_s\": 1, \"merge\": {\"format\": 1, "
		 "\"hist_sub_bits\": 7, \"hist_max_bits\": 40, \"window_s\": 1, \"n\": 1, \"mean\": 1, \"m2\": 0, "
		 "\"min\": 1, \"max\": 1, \"buckets\": [[1, 1]]}}",
		 "no errors.refused"},
		{"{\"connections\": 1, \"messages\": 1, \"msgs_per_s\": 1, \"errors\": {\"refused\": 0, \"connect\": 0, "
		 "\"reset\": 0, \"timeout\": 0, \"wrong\": 0, \"busy\": 0}, \"merge\": {\"format\": 1, "
		 "\"hist_sub_bits\": 7, \"hist_max_bits\": 40, \"window_s\": 1, \"n\": 2, \"mean\": 1, \"m2\": 0, "
		 "\"min\": 1, \"max\": 1, \"buckets\": [[1, 1]]}}",
		 "the buckets hold 1 values, merge.n says 2"},
		{"{\"connections\": 1, \"messages\": 1, \"msgs_per_s\": 1, \"errors\": {\"refused\": 0, \"connect\": 0, "
		 "\"reset\": 0, \"timeout\": 0, \"wrong\": 0, \"busy\": 0}, \"merge\": {\"format\": 1, "
		 "\"hist_sub_bits\": 7, \"hist_max_bits\": 40, \"window_s\": 1, \"n\": 1, \"mean\": 1, \"m2\": 0, "
		 "\"min\": 1, \"max\": 1, \"buckets\": [[99999999, 1]]}}",
		 "a bad bucket"},
		{"{\"connections\": 1, \"messages\": 2, \"msgs_per_s\": 1, \"errors\": {\"refused\": 0, \"connect\": 0, "
		 "\"reset\": 0, \"timeout\": 0, \"wrong\": 0, \"busy\": 0}, \"merge\": {\"format\": 1, "
		 "\"hist_sub_bits\": 7, \"hist_max_bits\": 40, \"window_s\": 1, \"n\": 2, \"mean\": 1, \"m2\": 0, "
		 "\"min\": 1, \"max\": 1, \"buckets\": [[1, 1], [1, 1]]}}",
		 "repeated bucket"},
	};
	char path[] = "/tmp/echolab-merge-bad-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	struct el_load_summary *s = malloc(sizeof(*s));
	cr_assert_not_null(s);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f);
		fputs(cases[i].text, f);
		fclose(f);
		char err[512];
		cr_expect_eq(el_load_summary_read(path, s, err, sizeof(err)), -1, "case %zu was accepted", i);
		cr_expect_not_null(strstr(err, cases[i].says), "case %zu: '%s' does not say '%s'", i, err,
				   cases[i].says);
		cr_expect_not_null(strstr(err, path), "case %zu: '%s' does not name the file", i, err);
	}
	char err[512];
	cr_expect_eq(el_load_summary_read("/nonexistent/x.json", s, err, sizeof(err)), -1);
	cr_expect_not_null(strstr(err, "No such file"), "%s", err);
	unlink(path);
	free(s);
}

/* An input that says it is invalid makes the merge say so, with the file
 * and its reason; valid inputs (and summaries from before "valid") do
 * not. */
Test(merge, an_invalid_input_is_named)
{
	char dir[] = "/tmp/echolab-merge-valid-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char good[128], bad[128];
	snprintf(good, sizeof(good), "%s/good.json", dir);
	snprintf(bad, sizeof(bad), "%s/bad.json", dir);
	struct el_load_cfg cfg = {.conns = 2, .threads = 1, .msg_len = 64};
	struct el_load_result *r = calloc(1, sizeof(*r));
	cr_assert_not_null(r);
	el_hist_init(&r->hist);
	el_hist_add(&r->hist, 100);
	r->messages = 1;
	r->window_s = 1;
	r->reached = 2;
	r->ready = -1;
	static const double pcts[] = {50};
	for (int i = 0; i < 2; i++) {
		r->valid = i == 0;
		r->nreasons = i;
		snprintf(r->reasons[0], sizeof(r->reasons[0]), "sends late: p99 900 us, over a tenth of the 1000 us gap");
		FILE *f = fopen(i ? bad : good, "w");
		cr_assert_not_null(f);
		el_load_write_json(f, &cfg, r, pcts, 1, false);
		cr_assert_eq(fclose(f), 0);
	}
	free(r);
	struct el_load_summary *g = read_ok(good), *b = read_ok(bad), *a = read_ok(fixture("a.json"));
	cr_expect_eq(g->invalid, 0);
	cr_expect_eq(a->invalid, 0, "a summary without \"valid\" counts as valid");
	cr_expect_eq(b->invalid, 1);
	el_load_summary_merge(g, b);
	cr_expect_eq(g->invalid, 1);
	char want[256];
	snprintf(want, sizeof(want), "%s: sends late: p99 900 us, over a tenth of the 1000 us gap", bad);
	cr_expect_str_eq(g->reason, want);
	free(g);
	free(b);
	free(a);
	unlink(good);
	unlink(bad);
	rmdir(dir);
}
