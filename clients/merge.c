/* echolab-load merge (merge.h). The summaries are read with a small
 * structural JSON walker: a value is found by its path of keys whatever
 * the file's spacing or key order (a summary passed through jq still
 * merges), and anything malformed is refused with the file's name. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "cli.h"

void el_load_summary_init(struct el_load_summary *s)
{
	memset(s, 0, sizeof(*s));
	el_hist_init(&s->hist);
}

static const char *skip_ws(const char *p)
{
	while (*p && isspace((unsigned char)*p))
		p++;
	return p;
}

/* The end of the JSON value at p, or NULL when it is malformed. */
static const char *skip_value(const char *p, int depth)
{
	p = skip_ws(p);
	if (depth > 32)
		return NULL;
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && !*++p)
				return NULL;
		return *p == '"' ? p + 1 : NULL;
	}
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = skip_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				p = skip_value(p, depth + 1); /* the key */
				if (!p || *(p = skip_ws(p)) != ':')
					return NULL;
				p++;
			}
			p = skip_value(p, depth + 1);
			if (!p)
				return NULL;
			p = skip_ws(p);
			if (*p == close)
				return p + 1;
			if (*p != ',')
				return NULL;
			p++;
		}
	}
	const char *start = p;
	while (*p && (isalnum((unsigned char)*p) || *p == '-' || *p == '+' || *p == '.'))
		p++;
	return p > start ? p : NULL;
}

/* The value at path (keys separated by '.') in the object at doc, or NULL. */
static const char *find(const char *doc, const char *path)
{
	const char *p = skip_ws(doc);
	while (*path) {
		size_t klen = strcspn(path, ".");
		if (*p != '{')
			return NULL;
		p = skip_ws(p + 1);
		const char *found = NULL;
		while (*p == '"' && !found) {
			const char *kend = skip_value(p, 0);
			if (!kend)
				return NULL;
			bool match = (size_t)(kend - p - 2) == klen && strncmp(p + 1, path, klen) == 0;
			p = skip_ws(kend);
			if (*p != ':')
				return NULL;
			p = skip_ws(p + 1);
			if (match) {
				found = p;
				break;
			}
			p = skip_value(p, 0);
			if (!p)
				return NULL;
			p = skip_ws(p);
			if (*p == ',')
				p = skip_ws(p + 1);
		}
		if (!found)
			return NULL;
		p = found;
		path += klen;
		if (*path == '.')
			path++;
	}
	return p;
}

static bool get_num(const char *doc, const char *path, double *out)
{
	const char *p = find(doc, path);
	if (!p)
		return false;
	char *end;
	errno = 0;
	double v = strtod(p, &end);
	if (end == p || errno || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static bool get_u64(const char *doc, const char *path, uint64_t *out)
{
	const char *p = find(doc, path);
	if (!p || !isdigit((unsigned char)*p))
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p, &end, 10);
	if (errno || (*end && !isspace((unsigned char)*end) && *end != ',' && *end != '}' && *end != ']'))
		return false;
	*out = v;
	return true;
}

static char *slurp(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap) {
			char *more = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
			if (!more) {
				free(buf);
				buf = NULL;
				snprintf(err, errlen, "%s: too large for a summary", path);
			}
			buf = more;
			cap *= 2;
		}
	}
	bool bad = ferror(f);
	fclose(f);
	if (buf && bad) {
		snprintf(err, errlen, "%s: %s", path, strerror(EIO));
		free(buf);
		return NULL;
	}
	if (buf)
		buf[len] = 0;
	else if (!*err)
		snprintf(err, errlen, "out of memory");
	return buf;
}

/* Reads merge.buckets into h; checks the counts' sum against n. */
static int read_buckets(const char *doc, struct el_hist *h, uint64_t n, const char *path, char *err,
			size_t errlen)
{
	const char *p = find(doc, "merge.buckets");
	if (!p || *p != '[' || !skip_value(p, 0)) {
		snprintf(err, errlen, "%s: no merge.buckets array", path);
		return -1;
	}
	p = skip_ws(p + 1);
	uint64_t sum = 0;
	while (*p == '[') {
		char *end;
		errno = 0;
		unsigned long long idx = strtoull(skip_ws(p + 1), &end, 10);
		p = skip_ws(end);
		if (errno || *p != ',' || idx >= EL_HIST_BUCKETS) {
			snprintf(err, errlen, "%s: a bad bucket in merge.buckets", path);
			return -1;
		}
		unsigned long long count = strtoull(skip_ws(p + 1), &end, 10);
		p = skip_ws(end);
		if (errno || *p != ']' || count == 0 || h->counts[idx]) {
			snprintf(err, errlen, "%s: a bad or repeated bucket %llu in merge.buckets", path, idx);
			return -1;
		}
		h->counts[idx] = count;
		sum += count;
		p = skip_ws(p + 1);
		if (*p == ',')
			p = skip_ws(p + 1);
	}
	if (sum != n) {
		snprintf(err, errlen, "%s: the buckets hold %llu values, merge.n says %llu", path,
			 (unsigned long long)sum, (unsigned long long)n);
		return -1;
	}
	h->total = sum;
	return 0;
}

int el_load_summary_read(const char *path, struct el_load_summary *s, char *err, size_t errlen)
{
	el_load_summary_init(s);
	err[0] = 0;
	char *doc = slurp(path, err, errlen);
	if (!doc)
		return -1;
	int rc = -1;
	double format, sub, max_bits, conns, reached = 0, window, rate, mean, m2, min, max, start = 0;
	uint64_t n;
	if (!skip_value(doc, 0) || !get_num(doc, "merge.format", &format)) {
		snprintf(err, errlen, "%s: not an echolab-load --json summary with a merge object", path);
		goto out;
	}
	if (format != 1 || !get_num(doc, "merge.hist_sub_bits", &sub) || !get_num(doc, "merge.hist_max_bits", &max_bits) ||
	    sub != EL_HIST_SUB_BITS || max_bits != EL_HIST_MAX_BITS) {
		snprintf(err, errlen, "%s: a summary of another format or histogram layout (this echolab-load "
				      "reads format 1, %d sub-bucket bits, %d bits)", path, EL_HIST_SUB_BITS, EL_HIST_MAX_BITS);
		goto out;
	}
	if (!get_num(doc, "connections", &conns) || !get_u64(doc, "messages", &s->messages) ||
	    !get_num(doc, "msgs_per_s", &rate) || !get_num(doc, "merge.window_s", &window) ||
	    !get_u64(doc, "merge.n", &n) || !get_num(doc, "merge.mean", &mean) || !get_num(doc, "merge.m2", &m2) ||
	    !get_num(doc, "merge.min", &min) || !get_num(doc, "merge.max", &max)) {
		snprintf(err, errlen, "%s: a summary without connections, messages, msgs_per_s or merge's moments",
			 path);
		goto out;
	}
	for (int k = 0; k < EL_LOAD_NERRORS; k++) {
		char key[64];
		snprintf(key, sizeof(key), "errors.%s", el_load_error_name(k));
		if (!get_u64(doc, key, &s->errors[k])) {
			snprintf(err, errlen, "%s: no %s", path, key);
			goto out;
		}
	}
	get_num(doc, "connections_reached", &reached);
	get_num(doc, "window_start_unix", &start);
	const char *intr = find(doc, "interrupted");
	/* Summaries from before "valid" existed count as valid. */
	const char *valid = find(doc, "valid");
	if (valid && strncmp(valid, "false", 5) == 0) {
		s->invalid = 1;
		const char *why = find(doc, "invalid_reasons");
		const char *q = why ? strchr(why, '"') : NULL, *e = q ? strchr(q + 1, '"') : NULL;
		snprintf(s->reason, sizeof(s->reason), "%.60s: %.*s", path, e ? (int)(e - q - 1) : 7,
			 e ? q + 1 : "invalid");
	}
	if (read_buckets(doc, &s->hist, n, path, err, errlen) < 0)
		goto out;
	s->hist.stats = (struct el_stats){.n = n, .mean = mean, .m2 = m2, .min = min, .max = max};
	if (n == 0)
		el_stats_init(&s->hist.stats);
	s->conns = (long)conns;
	s->reached = (long)reached;
	s->window_s = window;
	s->msgs_per_s = rate;
	s->files = 1;
	s->interrupted = intr && strncmp(intr, "true", 4) == 0;
	s->first_start_unix = s->last_start_unix = start;
	rc = 0;
out:
	free(doc);
	return rc;
}

void el_load_summary_merge(struct el_load_summary *a, const struct el_load_summary *b)
{
	a->conns += b->conns;
	a->reached += b->reached;
	a->messages += b->messages;
	for (int k = 0; k < EL_LOAD_NERRORS; k++)
		a->errors[k] += b->errors[k];
	if (b->window_s > a->window_s)
		a->window_s = b->window_s;
	a->msgs_per_s += b->msgs_per_s;
	if (b->first_start_unix > 0 && (a->first_start_unix == 0 || b->first_start_unix < a->first_start_unix))
		a->first_start_unix = b->first_start_unix;
	if (b->last_start_unix > a->last_start_unix)
		a->last_start_unix = b->last_start_unix;
	a->files += b->files;
	a->interrupted += b->interrupted;
	if (b->invalid && !a->invalid)
		snprintf(a->reason, sizeof(a->reason), "%s", b->reason);
	a->invalid += b->invalid;
	el_hist_merge(&a->hist, &b->hist);
}

static const char merge_usage[] =
	"usage: echolab-load merge [--json OUT] [--percentiles LIST] FILE.json...\n"
	"\n"
	"Sums the --json summaries of load instances that ran side by side (one\n"
	"per --segment or machine): messages, each error kind, msgs/s (the sum),\n"
	"min, max, mean, stddev and variance (exact: the parallel formula), and\n"
	"every percentile from the summed histogram buckets, never from averaged\n"
	"percentiles. Says how many inputs were interrupted and how far apart\n"
	"their windows started.\n"
	"\n"
	"  --json OUT         write the merged summary (itself mergeable)\n"
	"  --percentiles L    comma-separated (default 50,90,99,99.9)\n"
	"  --help             this text\n"
	"\n"
	"Exit 0 when merged and no input had an error or was interrupted, 1\n"
	"otherwise (the merge is still printed), 2 on bad usage.\n";

/* The options' ids (cli.h: an enum from EL_CLI_OPT_FIRST). */
enum {
	O_JSON = EL_CLI_OPT_FIRST, O_PERCENTILES, O_HELP,
};

/* merge's command line: --json, --percentiles. Returns -1 to go on, or
 * the exit status. */
static int merge_args(int argc, char **argv, const char **json, double *pcts, int *npct)
{
	static const struct option opts[] = {
		{"json", required_argument, NULL, O_JSON},
		{"percentiles", required_argument, NULL, O_PERCENTILES},
		{"help", no_argument, NULL, O_HELP},
		{0},
	};
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_JSON: *json = optarg; break;
		case O_PERCENTILES: {
			*npct = 0;
			char buf[256];
			snprintf(buf, sizeof(buf), "%s", optarg);
			for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				char *end;
				double v = strtod(t, &end);
				if (*npct == 16 || *end || end == t || !(v >= 0 && v <= 100)) {
					fprintf(stderr, "echolab-load merge: bad --percentiles '%s' (see --help)\n", optarg);
					return 2;
				}
				pcts[(*npct)++] = v;
			}
			break;
		}
		case O_HELP: fputs(merge_usage, stdout); return 0;
		default:
			fprintf(stderr, "echolab-load merge: unknown or incomplete option '%s' (see --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "echolab-load merge: no summary to merge (see --help)\n");
		return 2;
	}
	return -1;
}

/* The merged summary on standard output, as echolab-load prints a run's. */
static void merge_print(const struct el_load_summary *sum, uint64_t errors, bool valid, const char (*reasons)[96],
			int nreasons, const double *pcts, int npct)
{
	const struct el_stats *st = &sum->hist.stats;
	printf("echolab-load merge: %d summaries, %ld connections", sum->files, sum->conns);
	if (sum->interrupted)
		printf(", %d of them interrupted", sum->interrupted);
	if (sum->first_start_unix > 0)
		printf(", windows started %.1f ms apart", (sum->last_start_unix - sum->first_start_unix) * 1e3);
	printf("\nmessages  %llu (%.1f msg/s)\n", (unsigned long long)sum->messages, sum->msgs_per_s);
	printf("errors    %llu (", (unsigned long long)errors);
	for (int k = 0; k < EL_LOAD_NERRORS; k++)
		printf("%s%s %llu", k ? ", " : "", el_load_error_name(k), (unsigned long long)sum->errors[k]);
	printf(")\n");
	printf("valid     %s", valid ? "yes" : "NO:");
	for (int i = 0; i < nreasons; i++)
		printf("%s %s", i ? ";" : "", reasons[i]);
	printf("\n");
	if (st->n) {
		printf("rtt_us    min %.0f  mean %.1f  stddev %.1f  variance %.1f  max %.0f\n         ", st->min,
		       st->mean, el_stats_stddev(st), el_stats_variance(st), st->max);
		for (int i = 0; i < npct; i++)
			printf(" p%g %.0f", pcts[i], el_hist_percentile(&sum->hist, pcts[i]));
		printf("\n");
	} else {
		printf("rtt_us    none: no reply was measured\n");
	}
}

/* The merged summary as JSON (--json), as echolab-load writes a run's.
 * Returns 0 or -1 after saying why. */
static int merge_json(const char *json, const struct el_load_summary *sum, bool valid, const char (*reasons)[96],
		      int nreasons, const double *pcts, int npct)
{
	FILE *f = fopen(json, "w");
	if (f) {
		fprintf(f, "{\n  \"connections\": %ld,\n  \"connections_reached\": %ld,\n", sum->conns, sum->reached);
		fprintf(f, "  \"merged_from\": %d,\n  \"inputs_interrupted\": %d,\n  \"interrupted\": %s,\n",
			sum->files, sum->interrupted, sum->interrupted ? "true" : "false");
		fprintf(f, "  \"window_s\": %.6f,\n  \"window_start_unix\": %.6f,\n"
			   "  \"window_start_spread_s\": %.6f,\n",
			sum->window_s, sum->first_start_unix, sum->last_start_unix - sum->first_start_unix);
		fprintf(f, "  \"connections_requested\": %ld,\n  \"inputs_invalid\": %d,\n", sum->conns, sum->invalid);
		el_load_write_json_validity(f, valid, nreasons, reasons);
		el_load_write_json_figures(f, sum->messages, sum->window_s, sum->msgs_per_s, sum->errors, &sum->hist,
					   pcts, npct);
	}
	if (!f || fclose(f) != 0) {
		fprintf(stderr, "echolab-load merge: %s: %s\n", json, strerror(errno));
		return -1;
	}
	return 0;
}

int el_load_merge_main(int argc, char **argv)
{
	const char *json = NULL;
	double pcts[16] = {50, 90, 99, 99.9};
	int npct = 4;
	int rc = merge_args(argc, argv, &json, pcts, &npct);
	if (rc >= 0)
		return rc;
	struct el_load_summary *sum = malloc(sizeof(*sum)), *one = malloc(sizeof(*one));
	if (!sum || !one) {
		fprintf(stderr, "echolab-load merge: out of memory\n");
		free(sum);
		free(one);
		return 1;
	}
	el_load_summary_init(sum);
	for (int i = optind; i < argc; i++) {
		char err[512];
		if (el_load_summary_read(argv[i], one, err, sizeof(err)) < 0) {
			fprintf(stderr, "echolab-load merge: %s\n", err);
			free(sum);
			free(one);
			return 1;
		}
		el_load_summary_merge(sum, one);
	}
	uint64_t errors = 0;
	for (int k = 0; k < EL_LOAD_NERRORS; k++)
		errors += sum->errors[k];
	/* The merge is valid when every input was and, together, they
	 * reached every connection they asked for. */
	bool valid = !sum->invalid && sum->reached >= sum->conns;
	char reasons[2][96];
	int nreasons = 0;
	if (sum->invalid)
		snprintf(reasons[nreasons++], sizeof(reasons[0]), "%d input%s invalid, first %.60s", sum->invalid,
			 sum->invalid == 1 ? "" : "s", sum->reason);
	if (sum->reached < sum->conns)
		snprintf(reasons[nreasons++], sizeof(reasons[0]), "connections: %ld of %ld answered", sum->reached,
			 sum->conns);
	merge_print(sum, errors, valid, (const char (*)[96])reasons, nreasons, pcts, npct);
	int status = json && merge_json(json, sum, valid, (const char (*)[96])reasons, nreasons, pcts, npct) < 0;
	if (errors || sum->interrupted || sum->messages == 0 || !valid)
		status = 1;
	free(sum);
	free(one);
	return status;
}
