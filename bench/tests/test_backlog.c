/* echolab-bench --backlog-experiment, checked against its own captures:
 * the table's numbers (summary.csv, and the rows of report.md) are what
 * echolab-pcap's JSON of the same pcap files says; the timeline's data
 * holds the JSON's events at their times; the claims in the report are
 * the ones the table's numbers make; and the lab's finding shows on this
 * kernel (iterative's waiting clients send SYNs again about every second,
 * fork's clients one by one do not). Needs root: namespaces and capture. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backlog.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	size_t r;
	while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (n + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("the backlog experiment needs root (network namespaces, packet capture)");
}

static char last_root[64];

/* The last run's directory, removed once a test passed (a failure keeps
 * it: its path is in the messages). */
static void remove_run(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", last_root);
	cr_expect_eq(system(cmd), 0);
}

/* Runs echolab-bench with args into a fresh directory; returns the run's
 * directory (results/latest). */
static char *run_bench_as(const char *prefix, const char *args, char *dir, size_t len, int want_exit)
{
	char tmpl[] = "/tmp/echolab-backlog-XXXXXX";
	cr_assert_not_null(mkdtemp(tmpl));
	cr_assert_eq(chmod(tmpl, 0777), 0);
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "%s %s --backlog-experiment %s --out %s > %s/stdout 2> %s/stderr", prefix,
		 getenv("ECHOLAB_BENCH"), args, tmpl, tmpl, tmpl);
	int st = system(cmd);
	snprintf(dir, len, "%s/latest", tmpl);
	snprintf(last_root, sizeof(last_root), "%s", tmpl);
	char err[600];
	snprintf(err, sizeof(err), "%s/stderr", tmpl);
	char *text = slurp(err);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == want_exit, "%s: exit %d, stderr:\n%s", cmd,
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1, text);
	return text;
}

static void run_bench(const char *args, char *dir, size_t len, int want_exit)
{
	free(run_bench_as("", args, dir, len, want_exit));
}

/* summary.csv's rows. */
static int read_summary(const char *dir, struct bl_run *runs, int max)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/backlog/summary.csv", dir);
	char *text = slurp(path);
	char *save, *line = strtok_r(text, "\n", &save);
	cr_assert_str_eq(line, "server,traits,backlog,pattern,clients,served,syn_retransmits,slowest_s,"
			       "listen_overflows,listen_drops,flows,handshakes,replies,port,stem");
	int n = 0;
	while ((line = strtok_r(NULL, "\n", &save)) && n < max) {
		/* Fields split at each comma, empty ones kept (traits). */
		char *fld[16];
		int k = 0;
		for (char *p = line; k < 16;) {
			fld[k++] = p;
			p = strchr(p, ',');
			if (!p)
				break;
			*p++ = '\0';
		}
		cr_assert_eq(k, 15, "summary.csv: %d fields", k);
		struct bl_run *r = &runs[n++];
		memset(r, 0, sizeof(*r));
		snprintf(r->server, sizeof(r->server), "%s", fld[0]);
		for (char *sp = strchr(fld[1], ' '); sp; sp = strchr(sp, ' '))
			*sp = ',';
		char bad[64];
		cr_assert_eq(el_traits_parse(fld[1], &r->traits, bad, sizeof(bad)), 0, "summary.csv: trait '%s'", bad);
		r->backlog = atoi(fld[2]);
		r->pattern = strcmp(fld[3], "burst") == 0 ? BL_BURST : BL_ONE_BY_ONE;
		r->clients = atoi(fld[4]);
		r->served = atoi(fld[5]);
		r->syn_retransmits = (unsigned)atol(fld[6]);
		r->slowest_s = atof(fld[7]);
		r->listen_overflows = atol(fld[8]);
		r->listen_drops = atol(fld[9]);
		r->flows = atol(fld[10]);
		r->handshakes = atol(fld[11]);
		r->replies = atoi(fld[12]);
		r->port = (unsigned)atol(fld[13]);
		snprintf(r->stem, sizeof(r->stem), "%s", fld[14]);
		r->ran = true;
	}
	free(text);
	return n;
}

/* One flow of echolab-pcap's JSON: what the table and timeline need. */
struct jflow {
	bool handshake;
	unsigned syn_retransmits;
	double reply;            /* first_data_s[1]; -1: null */
	double t[64];
	char kind[64][24], dir[64][4];
	int nev;
};

static double json_num(const char *p, const char *key)
{
	const char *k = strstr(p, key);
	cr_assert_not_null(k, "no %s in %.80s", key, p);
	return strtod(k + strlen(key), NULL);
}

static int read_json(const char *dir, const char *stem, struct jflow *fl, int max)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/backlog/%s.json", dir, stem);
	char *text = slurp(path);
	int n = 0;
	for (char *p = strstr(text, "\n{\"client\":"); p && n < max; n++) {
		char *next = strstr(p + 1, "\n{\"client\":");
		/* The flow's text alone: the next flow's LF ends it. */
		if (next)
			*next = '\0';
		struct jflow *f = &fl[n];
		memset(f, 0, sizeof(*f));
		f->handshake = strstr(p, "\"handshake\":true") != NULL;
		f->syn_retransmits = (unsigned)json_num(p, "\"syn_retransmits\":");
		char *fd = strstr(p, "\"first_data_s\":[");
		cr_assert_not_null(fd);
		fd = strchr(fd, ',') + 1;
		f->reply = strncmp(fd, "null", 4) == 0 ? -1 : strtod(fd, NULL);
		for (char *e = strstr(p, "{\"t\":"); e && f->nev < 64; e = strstr(e + 1, "{\"t\":")) {
			f->t[f->nev] = strtod(e + 5, NULL);
			cr_assert_eq(sscanf(strstr(e, "\"kind\":\""), "\"kind\":\"%23[^\"]", f->kind[f->nev]), 1);
			cr_assert_eq(sscanf(strstr(e, "\"dir\":\""), "\"dir\":\"%3[^\"]", f->dir[f->nev]), 1);
			f->nev++;
		}
		p = next ? next + 1 : NULL;
	}
	free(text);
	return n;
}

static double jevent(const struct jflow *f, const char *kind, const char *dir)
{
	for (int i = 0; i < f->nev; i++)
		if (strcmp(f->kind[i], kind) == 0 && strcmp(f->dir[i], dir) == 0)
			return f->t[i];
	return -1;
}

/* The table's figures, from the JSON alone. */
static void expect_row_from_json(const struct bl_run *r, const struct jflow *fl, int n)
{
	double close_t = INFINITY, slowest = -1;
	long handshakes = 0;
	unsigned syn_retx = 0;
	int served = 0;
	for (int i = 0; i < n; i++) {
		double fin = jevent(&fl[i], "fin", "c2s");
		if (fin >= 0 && fin < close_t)
			close_t = fin;
	}
	for (int i = 0; i < n; i++) {
		handshakes += fl[i].handshake;
		syn_retx += fl[i].syn_retransmits;
		double syn = jevent(&fl[i], "syn", "c2s");
		if (syn < 0 || fl[i].reply < 0 || fl[i].reply >= close_t)
			continue;
		served++;
		slowest = fmax(slowest, fl[i].reply - syn);
	}
	cr_expect_eq(r->flows, n, "%s: flows", r->stem);
	cr_expect_eq(r->handshakes, handshakes, "%s: handshakes", r->stem);
	cr_expect_eq(r->syn_retransmits, syn_retx, "%s: SYNs sent again", r->stem);
	cr_expect_eq(r->served, served, "%s: served", r->stem);
	cr_expect(fabs(r->slowest_s - slowest) < 2e-6, "%s: slowest %f, the JSON's %f", r->stem, r->slowest_s,
		  slowest);
	cr_expect_leq(r->served, r->replies, "%s: each client served read its reply", r->stem);
}

/* The timeline's data file: every mark is the JSON's event of that
 * client, at the JSON's time, and every such event is drawn. */
static void expect_timeline(const char *dir, const struct bl_run *r, const struct jflow *fl, int n)
{
	static const char *const kinds[] = {"syn", "syn_retransmit", "established", "reply", "fin"};
	char path[700];
	snprintf(path, sizeof(path), "%s/backlog/%s.dat", dir, r->stem);
	char *text = slurp(path);
	int drawn = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#')
			continue;
		double t;
		int row, mark;
		cr_assert_eq(sscanf(line, "%lf %d %d", &t, &row, &mark), 3, "%s: %s", path, line);
		cr_assert(row >= 1 && row <= n && mark >= 0 && mark < 5, "%s: %s", path, line);
		const struct jflow *f = &fl[row - 1];
		bool found = false;
		if (mark == 3)
			found = fabs(f->reply - t) < 2e-6;
		for (int i = 0; mark != 3 && i < f->nev; i++)
			found |= strcmp(f->kind[i], kinds[mark]) == 0 && strcmp(f->dir[i], "c2s") == 0 &&
				 fabs(f->t[i] - t) < 2e-6;
		cr_expect(found, "%s: %s at %.6f for client %d is not in the JSON", path, kinds[mark], t, row);
		drawn++;
	}
	int want = 0;
	for (int i = 0; i < n; i++) {
		want += fl[i].reply >= 0;
		for (int k = 0; k < fl[i].nev; k++)
			for (int m = 0; m < 5; m++)
				want += m != 3 && strcmp(fl[i].kind[k], kinds[m]) == 0 &&
					strcmp(fl[i].dir[k], "c2s") == 0;
	}
	cr_expect_eq(drawn, want, "%s: %d marks drawn, the JSON has %d", path, drawn, want);
	free(text);
}

Test(backlog, tables_timelines_and_claims_agree_with_the_captures, .timeout = 300)
{
	need_root();
	char dir[600];
	run_bench("--models iterative,fork --backlogs 1", dir, sizeof(dir), 0);
	struct bl_run runs[8];
	int n = read_summary(dir, runs, 8);
	cr_assert_eq(n, 4, "iterative and fork, one by one and a burst");
	char path[700];
	snprintf(path, sizeof(path), "%s/report.md", dir);
	char *report = slurp(path);
	static struct jflow fl[64];
	for (int i = 0; i < n; i++) {
		const struct bl_run *r = &runs[i];
		int nf = read_json(dir, r->stem, fl, 64);
		expect_row_from_json(r, fl, nf);
		expect_timeline(dir, r, fl, nf);
		char line[600];
		bl_table_row(r, line, sizeof(line));
		cr_expect_not_null(strstr(report, line), "report.md lacks the row %s", line);
		bl_claim(r, line + 2, sizeof(line) - 2);
		memcpy(line, "- ", 2);
		cr_expect_not_null(strstr(report, line), "report.md lacks the claim %s", line);
		/* A run with clients unanswered says why, and where to read
		 * more. */
		const char *at = strstr(report, line);
		if (at && r->served < r->clients) {
			const char *eol = strchr(at, '\n'), *why = strstr(at, " got no reply within the ");
			cr_expect(why && (!eol || why < eol), "%s: no reason for the clients with no reply", r->stem);
			why = strstr(at, "(docs/bench.md, \"Why SYNs are sent again\")");
			cr_expect(why && (!eol || why < eol), "%s: the reason does not name its section", r->stem);
		}
		for (const char *ext = "svg"; ext; ext = strcmp(ext, "svg") == 0 ? "png" : NULL) {
			snprintf(path, sizeof(path), "%s/backlog/%s.%s", dir, r->stem, ext);
			cr_expect_eq(access(path, R_OK), 0, "no %s", path);
		}
		if (r->pattern != BL_ONE_BY_ONE)
			continue;
		if (strcmp(r->server, "fork") == 0) {
			/* The lab's finding: fork's clients, one by one, send nothing twice. */
			cr_expect_eq(r->syn_retransmits, 0, "fork, one by one");
			cr_expect_eq(r->served, r->clients);
			cr_expect_eq(r->listen_drops, 0);
			cr_expect_not_null(strstr(line, "the lab's finding holds"), "%s", line);
			continue;
		}
		/* iterative serves the first client only: its waiting clients send
		 * SYNs again on the kernel's schedule, +1 s, then at least a second
		 * apart (+1, 2, 3 ... s here; +1, 3, 7 s on older kernels). */
		cr_expect_eq(r->served, 1, "iterative serves the one client it holds");
		cr_expect_geq(r->syn_retransmits, 1);
		cr_expect_geq(r->listen_drops, r->syn_retransmits ? 1 : 0);
		cr_expect_not_null(strstr(line, "the lab's finding holds"), "%s", line);
		for (int k = 0; k < nf; k++) {
			double last = jevent(&fl[k], "syn", "c2s");
			for (int e = 0; e < fl[k].nev; e++) {
				if (strcmp(fl[k].kind[e], "syn_retransmit") != 0)
					continue;
				double gap = fl[k].t[e] - last;
				cr_expect(gap > 0.9 && gap < 4.5, "%s: client %d: a SYN again %.3f s after the last",
					  r->stem, k + 1, gap);
				last = fl[k].t[e];
			}
		}
	}
	free(report);
	remove_run();
}

Test(backlog, a_server_by_command, .timeout = 120)
{
	need_root();
	char dir[600], args[1200];
	snprintf(args, sizeof(args), "--backlogs 1 --burst 5 --hold 1 --server 'mine=%s --model thread --port {port} "
				     "--backlog {backlog} --quiet'",
		 getenv("ECHOLAB_SERVER"));
	run_bench(args, dir, sizeof(dir), 0);
	struct bl_run runs[4];
	int n = read_summary(dir, runs, 4);
	cr_assert_eq(n, 2, "only the server given by command");
	for (int i = 0; i < n; i++) {
		cr_expect_str_eq(runs[i].server, "mine");
		/* One by one, thread serves each at once; a burst of 5 at backlog
		 * 1 can overflow the queue before the first accept. */
		if (runs[i].pattern == BL_ONE_BY_ONE)
			cr_expect_eq(runs[i].served, runs[i].clients, "%s", runs[i].stem);
		else
			cr_expect_geq(runs[i].served, 1, "%s", runs[i].stem);
		char claim[600];
		bl_claim(&runs[i], claim, sizeof(claim));
		cr_expect_not_null(strstr(claim, "a server by command"), "%s", claim);
	}
	remove_run();
}

Test(backlog, bad_usage)
{
	char dir[600];
	const char *bad[] = {"--server /bin/true", "--server 'x=cat {port}'", "--backlogs 1,x", "--quick"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		run_bench(bad[i], dir, sizeof(dir), 2);
		remove_run();
	}
}

/* Without root: one line says so, and the report is still written, each
 * run marked as not run. */
Test(backlog, without_root_one_line_and_a_report, .timeout = 60)
{
	need_root(); /* to become someone else */
	char dir[600];
	char *err = run_bench_as("setpriv --reuid=65534 --regid=65534 --clear-groups",
				 "--models fork --backlogs 1", dir, sizeof(dir), 1);
	int lines = 0;
	for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
		lines += strstr(line, "needs root") != NULL;
	cr_expect_eq(lines, 1, "one line about root:\n%s", err);
	char path[700];
	snprintf(path, sizeof(path), "%s/report.md", dir);
	char *report = slurp(path);
	cr_expect_not_null(strstr(report, "| fork | one by one | did not run: cannot make a network namespace"),
			   "%s", report);
	cr_expect_not_null(strstr(report, "| fork | burst of 50 | did not run:"), "%s", report);
	free(report);
	free(err);
	remove_run();
}
