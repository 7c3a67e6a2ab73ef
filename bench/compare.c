/* echolab-bench --compare DIR_A DIR_B: is B faster than A? Per model and
 * client count, from each repeat's own load.json (cells/<model>-<clients>
 * -rN), the change of the mean msgs/s and of the mean p99 with its 95%
 * confidence interval (Welch: unequal variances, Welch-Satterthwaite
 * degrees of freedom), and a verdict: faster, slower, or no difference
 * the runs can show. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mode.h"
#include "intervals.h"
#include "merge.h"

#define MAX_CELLS 256

struct side {
	struct el_stats rate, p99; /* over the repeats */
	/* Repeats that measured no server: none answered, or fewer
	 * connections than asked, or the generator shaped them; the first
	 * one's name and reason. Such a repeat is not a data point: a cell
	 * with one gets no verdict. */
	int bad;
	char first[256]; /* its cell directory: the lowest rN, not readdir's order */
	char why[512];
};

struct pair {
	char model[32];
	long clients;
	struct side s[2]; /* A, B */
};

/* model and clients of a cell directory's name: <model>-<clients>[-rN]. */
static bool cell_name(const char *name, char *model, size_t len, long *clients)
{
	char buf[128];
	if (strlen(name) >= sizeof(buf))
		return false;
	memcpy(buf, name, strlen(name) + 1);
	char *dash = strrchr(buf, '-');
	if (dash && dash[1] == 'r' && dash[2] >= '0' && dash[2] <= '9') {
		*dash = 0;
		dash = strrchr(buf, '-');
	}
	if (!dash || dash == buf)
		return false;
	char *end;
	*clients = strtol(dash + 1, &end, 10);
	if (*end || *clients <= 0)
		return false;
	*dash = 0;
	if (strlen(buf) >= len)
		return false;
	memcpy(model, buf, strlen(buf) + 1);
	return true;
}

static struct pair *find_pair(struct pair *p, int *n, const char *model, long clients)
{
	for (int i = 0; i < *n; i++)
		if (p[i].clients == clients && strcmp(p[i].model, model) == 0)
			return &p[i];
	if (*n == MAX_CELLS)
		return NULL;
	struct pair *q = &p[(*n)++];
	memset(q, 0, sizeof(*q));
	snprintf(q->model, sizeof(q->model), "%s", model);
	q->clients = clients;
	for (int k = 0; k < 2; k++) {
		el_stats_init(&q->s[k].rate);
		el_stats_init(&q->s[k].p99);
	}
	return q;
}

/* Why a repeat's summary measured no server (NULL: it did). A repeat in
 * which the slowed server of a test answered nothing (0 of 2 connections)
 * read as 0 msgs/s, a data point, and one at 70k beside 330k and 346k
 * made the interval span -422% to +222%: "no difference" between a
 * server and one that never answered. */
static const char *not_a_measurement(const struct el_load_summary *s)
{
	static char why[200];
	if (s->messages == 0)
		snprintf(why, sizeof(why), "no message was answered (%ld of %ld connections)", s->reached,
			 s->conns);
	else if (s->reached < s->conns)
		snprintf(why, sizeof(why), "%ld of %ld connections answered", s->reached, s->conns);
	else if (s->invalid)
		snprintf(why, sizeof(why), "invalid, the generator shaped it (%s)", s->reason);
	else
		return NULL;
	return why;
}

/* Reads every cell of dir (a results directory or its latest link) into
 * side k. Returns the cells read, or -1 with the reason printed. */
static int read_side(const char *dir, int k, struct pair *p, int *n)
{
	char cells[1024];
	snprintf(cells, sizeof(cells), "%s/cells", dir);
	DIR *d = opendir(cells);
	if (!d) {
		fprintf(stderr, "echolab-bench: --compare: %s: %s\n", cells, strerror(errno));
		return -1;
	}
	int read = 0;
	struct el_load_summary *s = malloc(sizeof(*s));
	for (struct dirent *e; s && (e = readdir(d));) {
		char model[32], path[1400], err[512];
		long clients;
		if (e->d_name[0] == '.' || !cell_name(e->d_name, model, sizeof(model), &clients))
			continue;
		snprintf(path, sizeof(path), "%s/%s/load.json", cells, e->d_name);
		if (el_load_summary_read(path, s, err, sizeof(err)) < 0)
			continue; /* a cell that did not run has none */
		struct pair *q = find_pair(p, n, model, clients);
		if (!q)
			break;
		struct side *side = &q->s[k];
		const char *bad = not_a_measurement(s);
		if (bad) {
			/* The first by name (strverscmp: r2 before r10), whatever
			 * order the file system lists them in. */
			if (!side->bad++ || strverscmp(e->d_name, side->first) < 0) {
				snprintf(side->first, sizeof(side->first), "%s", e->d_name);
				snprintf(side->why, sizeof(side->why), "%s/%s: %s", k ? "B" : "A", e->d_name, bad);
			}
			read++;
			continue;
		}
		el_stats_add(&q->s[k].rate, s->msgs_per_s);
		el_stats_add(&q->s[k].p99, s->hist.total ? el_hist_percentile(&s->hist, 99) : 0);
		read++;
	}
	free(s);
	closedir(d);
	return read;
}

static int by_cell(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	int m = strcmp(a->model, b->model);
	return m ? m : (a->clients > b->clients) - (a->clients < b->clients);
}

int bench_compare(const struct bench_cfg *cfg, const char *dir_a, const char *dir_b, double fail_pct,
		  double min_pct)
{
	static struct pair p[MAX_CELLS];
	int n = 0;
	if (read_side(dir_a, 0, p, &n) < 0 || read_side(dir_b, 1, p, &n) < 0)
		return 1;
	qsort(p, (size_t)n, sizeof(p[0]), by_cell);
	char path[700];
	snprintf(path, sizeof(path), "%s/compare.md", cfg->dir);
	FILE *md = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/compare.dat", cfg->dir);
	FILE *dat = fopen(path, "w");
	if (!md || !dat) {
		fprintf(stderr, "echolab-bench: cannot write %s: %s\n", path, strerror(errno));
		if (md)
			fclose(md);
		if (dat)
			fclose(dat);
		return 1;
	}
	fprintf(md, "# Is B faster than A?\n\nA: `%s`\n\nB: `%s`\n\n"
		    "Each change is B's mean minus A's over their repeats, in percent of A's, with its 95%% "
		    "confidence interval (Welch). A cell is slower or faster only when the whole interval lies "
		    "beyond a change of %g%% (--min-change): smaller changes are no difference the runs can "
		    "show.\n\n",
		dir_a, dir_b, min_pct);
	if (fail_pct >= 0)
		fprintf(md, "--fail-if-slower %g: a cell fails when it is slower and the whole interval of its msgs/s "
			    "or p99 change lies beyond %g%% slower (a PCT under --min-change acts as --min-change), "
			    "or when it has no verdict.\n\n",
			fail_pct, fail_pct);
	fprintf(md, "| model | clients | repeats A/B | msgs/s A | msgs/s B | change | p99 A us | p99 B us | change "
		    "| verdict |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
	int slower = 0, failing = 0, compared = 0, short_cells = 0, refused = 0;
	for (int i = 0; i < n; i++) {
		struct side *a = &p[i].s[0], *b = &p[i].s[1];
		if (a->bad || b->bad) {
			const char *why = a->bad ? a->why : b->why;
			int bad = a->bad + b->bad;
			fprintf(md, "| %s | %ld | %llu/%llu | | | | | | | no verdict: %d repeat%s measured no server, "
				    "first %s |\n",
				p[i].model, p[i].clients, (unsigned long long)a->rate.n + (unsigned)a->bad,
				(unsigned long long)b->rate.n + (unsigned)b->bad, bad, bad == 1 ? "" : "s", why);
			printf("%-12s %6ld clients: no verdict: %d repeat%s measured no server, first %s\n",
			       p[i].model, p[i].clients, bad, bad == 1 ? "" : "s", why);
			refused++;
			continue;
		}
		if (a->rate.n < 3 || b->rate.n < 3) {
			fprintf(md, "| %s | %ld | %llu/%llu | | | | | | | not compared: 3 repeats each are needed |\n",
				p[i].model, p[i].clients, (unsigned long long)a->rate.n, (unsigned long long)b->rate.n);
			short_cells++;
			continue;
		}
		compared++;
		struct bench_change r = bench_welch(&a->rate, &b->rate), q = bench_welch(&a->p99, &b->p99);
		/* msgs/s down or p99 up is slower, when the whole interval is
		 * beyond min_pct: two runs of one build on a shared machine
		 * drift by a few percent, and 95% intervals of a few repeats
		 * alone would call that a change one cell in twenty. */
		int rate = bench_change_beyond(&r, min_pct), p99 = bench_change_beyond(&q, min_pct);
		bool worse = rate < 0 || p99 > 0, better = rate > 0 || p99 < 0;
		const char *verdict = worse ? "slower" : better ? "faster" : "no difference the runs can show";
		/* The gate holds a slower cell to the verdict's rule, with
		 * fail_pct for min_pct: the whole interval beyond it. Judged at
		 * the mean, two runs of one server with a hog that moved
		 * between them (p99 +63.8%, interval +6.8% to +120.8%) failed
		 * a gate at 50%. */
		bool fails = worse && fail_pct >= 0 &&
			     (bench_change_beyond(&r, fail_pct) < 0 || bench_change_beyond(&q, fail_pct) > 0);
		slower += worse;
		failing += fails;
		fprintf(md, "| %s | %ld | %llu/%llu | %.0f | %.0f | %+.1f%% (%+.1f to %+.1f) | %.0f | %.0f | "
			    "%+.1f%% (%+.1f to %+.1f) | %s%s |\n",
			p[i].model, p[i].clients, (unsigned long long)a->rate.n, (unsigned long long)b->rate.n,
			a->rate.mean, b->rate.mean, r.pct, r.lo, r.hi, a->p99.mean, b->p99.mean, q.pct, q.lo, q.hi,
			verdict, fails ? " (over --fail-if-slower)" : "");
		printf("%-12s %6ld clients: msgs/s %+7.1f%% (%+.1f to %+.1f), p99 %+7.1f%% (%+.1f to %+.1f): %s\n",
		       p[i].model, p[i].clients, r.pct, r.lo, r.hi, q.pct, q.lo, q.hi, verdict);
		fprintf(dat, "\"%s %ld\" %.2f %.2f %.2f %.2f %.2f %.2f\n", p[i].model, p[i].clients, r.pct, r.lo,
			r.hi, q.pct, q.lo, q.hi);
	}
	fclose(dat);
	fprintf(md, "\n![msgs/s and p99 change, B against A](compare.png)\n");
	fclose(md);
	snprintf(path, sizeof(path), "%s/compare.gp", cfg->dir);
	FILE *gp = fopen(path, "w");
	if (gp && compared > 0) {
		const char *body =
			"set title 'B against A: change of the mean, 95%% confidence interval'\n"
			"set ylabel 'change (%)'\nset style data histograms\nset style histogram errorbars gap 1 lw 1\n"
			"set style fill solid 0.6\nset xtics rotate by -30\nset grid ytics\nset yzeroaxis\n"
			"plot 'compare.dat' using 2:3:4:xtic(1) title 'msgs/s', '' using 5:6:7 title 'p99'\n";
		fprintf(gp, "set terminal svg size 820,480 dynamic font 'sans,11' background '#ffffff'\n"
			    "set output 'compare.svg'\n%s\nset terminal pngcairo size 820,480 font 'sans,10'\n"
			    "set output 'compare.png'\n%s\nunset output\n",
			body, body);
	}
	if (gp)
		fclose(gp);
	if (compared > 0)
		bench_gnuplot(cfg->dir, "compare.gp");
	printf("%d cells compared, %d slower%s%s; %s/compare.md\n", compared, slower,
	       failing ? ", " : "", failing ? "over --fail-if-slower" : "", cfg->dir);
	if (refused)
		fprintf(stderr,
			"echolab-bench: --compare: %d cell%s had a repeat that measured no server: no verdict "
			"there%s\n",
			refused, refused == 1 ? "" : "s", fail_pct >= 0 ? " (with --fail-if-slower, that fails)" : "");
	if (short_cells)
		fprintf(stderr, "echolab-bench: --compare: %d cells had fewer than 3 repeats on a side: not compared\n",
			short_cells);
	if (compared == 0 && !refused) {
		fprintf(stderr, "echolab-bench: --compare: no cell ran 3 repeats on both sides (--repeats 3)\n");
		return 1;
	}
	/* A gate (--fail-if-slower) cannot vouch for a cell it could not
	 * judge. */
	return failing || compared == 0 || (refused && fail_pct >= 0) ? 1 : 0;
}

/* --compare's own settings (its options); -1: not given. */
static double fail_pct = -1, min_pct = -1;

static int opt_fail_if_slower(const char *arg)
{
	return el_cli_parse_num(arg, 0, 1e6, &fail_pct)
		? 0 : el_cli_usage("echolab-bench", "bad --fail-if-slower '%s' (percent)", arg);
}

static int opt_min_change(const char *arg)
{
	return el_cli_parse_num(arg, 0, 1000, &min_pct)
		? 0 : el_cli_usage("echolab-bench", "bad --min-change '%s' (percent)", arg);
}

static int compare_run(struct bench_cfg *cfg, const struct bench_args *a)
{
	snprintf(cfg->command, sizeof(cfg->command), "echolab-bench --compare %s %s", a->operands[0],
		 a->operands[1]);
	return bench_compare(cfg, a->operands[0], a->operands[1], fail_pct,
			     min_pct >= 0 ? min_pct : BENCH_MIN_CHANGE_PCT);
}

const struct bench_mode bench_mode_compare = {
	.name = "compare",
	.arg = "A B",
	.synopsis = "--compare DIR_A DIR_B [--fail-if-slower PCT]\n"
		    "[--min-change PCT] [--out DIR]",
	.help = "is B faster than A? Two results directories (or their\n"
		"latest links), each with 3 repeats or more of a cell:\n"
		"per model and client count, the change of mean msgs/s\n"
		"and p99 with its 95% confidence interval (Welch), and\n"
		"faster, slower, or no difference the runs can show;\n"
		"compare.md and a plot",
	.options = (const struct bench_mode_option[]){
		{.name = "fail-if-slower",
		 .arg = "PCT",
		 .help = "with --compare: exit 1 when a cell is slower\n"
			 "(msgs/s down, or p99 up) with its whole 95% interval\n"
			 "beyond PCT% (a PCT under --min-change acts as it), or\n"
			 "got no verdict",
		 .parse = opt_fail_if_slower},
		{.name = "min-change",
		 .arg = "PCT",
		 .help = "with --compare: the smallest change called slower or\n"
			 "faster; the whole 95% interval must lie beyond it\n"
			 "(default 5: same-build runs drift by a few percent)",
		 .parse = opt_min_change},
		{0},
	},
	.operands = 2,
	.operands_are = "two results directories: DIR_A DIR_B",
	.run = compare_run,
};
