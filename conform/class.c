#include "class.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "io.h"
#include "json.h"
#include "reply.h"

/* ---- a submission's copy ---- */

/* Runs argv and waits: 0 when it exited 0, else -EIO. */
static int run_argv(char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

int el_sub_open(struct el_sub *u, const char *src, const char *name, bool sandboxed,
		const struct el_sbx_limits *lim, char *why, size_t whylen)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->work, sizeof(u->work), "/tmp/echolab-sub.XXXXXX");
	if (!mkdtemp(u->work)) {
		snprintf(why, whylen, "mkdtemp /tmp: %s", strerror(errno));
		u->work[0] = 0;
		return -errno;
	}
	/* The sandbox's user must reach the copy through it. */
	chmod(u->work, 0711);
	snprintf(u->dir, sizeof(u->dir), "%s/submission", u->work);
	char from[PATH_MAX + 4];
	snprintf(from, sizeof(from), "%s/.", src);
	char *mk[] = {"mkdir", u->dir, NULL}, *cp[] = {"cp", "-R", "--no-preserve=ownership", from, u->dir, NULL};
	if (run_argv(mk) < 0 || run_argv(cp) < 0) {
		snprintf(why, whylen, "copying %s into %s failed", src, u->dir);
		el_sub_close(u);
		return -EIO;
	}
	if (!sandboxed)
		return 0;
	u->sbx = el_sbx_create(name, u->dir, lim, why, whylen);
	if (!u->sbx) {
		el_sub_close(u);
		return -ENOTSUP;
	}
	return 0;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Unsandboxed: /bin/sh -c cmd in the copy, a process group of its own,
 * killed whole at the wall-clock limit. */
static int run_plain(struct el_sub *u, const char *cmd, const struct el_sbx_limits *lim, int log_fd,
		     struct el_sbx_result *r)
{
	double t0 = mono_s();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		setpgid(0, 0);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(log_fd >= 0 ? log_fd : null, 1);
		dup2(log_fd >= 0 ? log_fd : null, 2);
		if (chdir(u->dir) < 0)
			_exit(126);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	int st = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (lim->wall_s > 0 && mono_s() - t0 > lim->wall_s && r->end != EL_SBX_WALL_LIMIT) {
			r->end = EL_SBX_WALL_LIMIT;
			kill(-pid, SIGKILL);
		}
		struct timespec nap = {0, 20000000};
		nanosleep(&nap, NULL);
	}
	kill(-pid, SIGKILL);
	r->wall_s = mono_s() - t0;
	if (r->end != EL_SBX_WALL_LIMIT) {
		r->end = WIFEXITED(st) ? EL_SBX_EXITED : EL_SBX_SIGNALED;
		r->code = WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st);
	}
	return 0;
}

int el_sub_run(struct el_sub *u, const char *cmd, const struct el_sbx_limits *lim, int log_fd,
	       struct el_sbx_result *r)
{
	memset(r, 0, sizeof(*r));
	if (!u->sbx)
		return run_plain(u, cmd, lim, log_fd, r);
	pid_t pid = el_sbx_spawn(u->sbx, cmd, log_fd);
	if (pid < 0)
		return (int)pid;
	return el_sbx_wait(u->sbx, pid, r);
}

void el_sub_close(struct el_sub *u)
{
	el_sbx_destroy(u->sbx);
	u->sbx = NULL;
	if (u->work[0]) {
		char *rm[] = {"rm", "-rf", u->work, NULL};
		run_argv(rm);
		u->work[0] = 0;
	}
}

/* ---- one submission ---- */

static const char *const verdict_names[EL_CLASS_NVERDICTS] = {
	"graded", "build-failed", "never-listened", "crashed", "process-limit", "memory-limit", "time-limit",
};

const char *el_class_verdict_name(int v)
{
	return v >= 0 && v < EL_CLASS_NVERDICTS ? verdict_names[v] : "?";
}

#define MAX_CATS 8

/* What a submission's grading sends back to the class (through a pipe:
 * one write, under PIPE_BUF). */
struct row {
	char name[128];
	int verdict;
	int passed, failed, skipped;
	int cat_passed[MAX_CATS], cat_failed[MAX_CATS];
	double build_s, grade_s, cpu_s;
	uint64_t outside;        /* packets toward outside, dropped */
	bool built, interrupted, reported;
	char detail[400];        /* why the verdict, one line */
	bool benched;            /* --bench: a figure was attempted */
	struct el_class_figure fig;
};

/* The verdict of a sandbox's end, for a phase that was killed; -1 when it
 * was not. */
static int limit_verdict(enum el_sbx_end e)
{
	switch (e) {
	case EL_SBX_PROCESS_LIMIT: return EL_CLASS_PROCESS_LIMIT;
	case EL_SBX_MEMORY_LIMIT: return EL_CLASS_MEMORY_LIMIT;
	case EL_SBX_CPU_LIMIT:
	case EL_SBX_WALL_LIMIT: return EL_CLASS_TIME_LIMIT;
	default: return -1;
	}
}

static const char *limit_words(enum el_sbx_end e, const struct el_class_opts *co, char *buf, size_t len)
{
	switch (e) {
	case EL_SBX_PROCESS_LIMIT: snprintf(buf, len, "a fork was refused at the process limit (%ld)", co->lim.pids); break;
	case EL_SBX_MEMORY_LIMIT: snprintf(buf, len, "killed at the memory limit (%ld MiB)", co->lim.memory_mib); break;
	case EL_SBX_CPU_LIMIT: snprintf(buf, len, "killed at the CPU-time limit (%g s)", co->lim.cpu_s); break;
	case EL_SBX_WALL_LIMIT: snprintf(buf, len, "killed at the wall-clock limit (%g s)", co->lim.wall_s); break;
	default: snprintf(buf, len, "%s", el_sbx_end_name(e)); break;
	}
	return buf;
}

/* The watch over a submission's server while its cases run: a limit
 * passed kills everything it runs and stops the cases. */
struct watch {
	const struct el_class_opts *co;
	struct el_sub *u;
	struct el_sbx_events base;
	volatile sig_atomic_t *stop; /* the cases' */
	volatile bool done;
	enum el_sbx_end end;         /* EL_SBX_EXITED: no limit passed */
	struct el_sbx_events ev;
	double t0;
};

static void *watch_loop(void *arg)
{
	struct watch *w = arg;
	while (!w->done) {
		if (*w->co->stop)
			*w->stop = 1;
		if (w->u->sbx)
			el_sbx_events(w->u->sbx, &w->ev);
		enum el_sbx_end e = EL_SBX_EXITED;
		if (w->u->sbx && w->ev.pids_max > w->base.pids_max)
			e = EL_SBX_PROCESS_LIMIT;
		else if (w->u->sbx && w->ev.oom_kills > w->base.oom_kills)
			e = EL_SBX_MEMORY_LIMIT;
		else if (w->u->sbx && el_sbx_over_cpu(w->u->sbx, &w->ev))
			e = EL_SBX_CPU_LIMIT;
		else if (w->co->lim.wall_s > 0 && mono_s() - w->t0 > w->co->lim.wall_s)
			e = EL_SBX_WALL_LIMIT;
		if (e != EL_SBX_EXITED) {
			w->end = e;
			*w->stop = 1;
			if (w->u->sbx)
				el_sbx_kill_all(w->u->sbx);
			return NULL;
		}
		struct timespec nap = {0, 50000000};
		nanosleep(&nap, NULL);
	}
	return NULL;
}

static int category_of(const char *id)
{
	for (int k = 0; el_conf_categories[k] && k < MAX_CATS; k++) {
		size_t len = strlen(el_conf_categories[k]);
		if (strncmp(id, el_conf_categories[k], len) == 0 && id[len] == '.')
			return k;
	}
	return -1;
}

/* Writes the student's own reports into OUT/NAME: conform.txt (the
 * terminal's lines), report.html, junit.xml, conform.json. */
static void write_own_reports(const struct el_class_opts *co, const char *own, const struct el_conf_report *rep)
{
	static const struct {
		const char *file;
		int (*write)(FILE *, const struct el_conf_report *);
	} outs[] = {{"report.html", el_conf_write_html}, {"junit.xml", el_conf_write_junit},
		    {"conform.json", el_conf_write_json}};
	char path[PATH_MAX + 32];
	for (size_t i = 0; i < sizeof(outs) / sizeof(outs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", own, outs[i].file);
		FILE *f = fopen(path, "w");
		if (f) {
			outs[i].write(f, rep);
			fclose(f);
		}
	}
	snprintf(path, sizeof(path), "%s/conform.txt", own);
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	if (rep->error)
		fprintf(f, "%s\n", rep->error);
	for (size_t i = 0; i < rep->n; i++)
		el_conf_print_line(f, rep->o, &rep->res[i], false);
	fclose(f);
	(void)co;
}

/* The cases against the built submission's server, under the watch. */
static void grade_server(const struct el_class_opts *co, struct el_sub *u, const char *own, struct row *row)
{
	static volatile sig_atomic_t stop_cases;
	stop_cases = *co->stop;
	struct el_conf_opts o = co->conf;
	o.sbx = u->sbx;
	o.stop = &stop_cases;
	char why[768] = "";
	if (u->sbx && el_sbx_enter_net(u->sbx) < 0) {
		row->verdict = EL_CLASS_NEVER_LISTENED;
		snprintf(row->detail, sizeof(row->detail), "the grader could not enter the sandbox's network");
		return;
	}
	if (!u->sbx && chdir(u->dir) < 0) {
		snprintf(row->detail, sizeof(row->detail), "chdir %.300s: %s", u->dir, strerror(errno));
		return;
	}
	struct watch w = {.co = co, .u = u, .stop = &stop_cases, .end = EL_SBX_EXITED, .t0 = mono_s()};
	if (u->sbx)
		el_sbx_events(u->sbx, &w.base);
	pthread_t th;
	bool watching = pthread_create(&th, NULL, watch_loop, &w) == 0;
	size_t nsel = el_conf_nselected(co->cases);
	struct el_conf_result *res = calloc(nsel ? nsel : 1, sizeof(*res));
	struct el_conf_runner runner;
	el_conf_runner_init(&runner, &o);
	int check = res ? el_conf_runner_check(&runner, co->cases, why, sizeof(why)) : -ENOMEM;
	size_t n = check == 0 ? el_conf_run_selected(&runner, co->cases, res, NULL, NULL) : 0;
	char fin[256] = "";
	bool left = el_conf_runner_finish(&runner, fin, sizeof(fin)) < 0;
	w.done = true;
	if (watching)
		pthread_join(th, NULL);
	/* A limit passed since the watch last looked (a process killed at the
	 * memory limit as the server started, and the cases over at once). */
	if (w.end == EL_SBX_EXITED && u->sbx) {
		el_sbx_events(u->sbx, &w.ev);
		if (w.ev.pids_max > w.base.pids_max)
			w.end = EL_SBX_PROCESS_LIMIT;
		else if (w.ev.oom_kills > w.base.oom_kills)
			w.end = EL_SBX_MEMORY_LIMIT;
	}
	row->grade_s = mono_s() - w.t0;
	row->interrupted = *co->stop != 0;
	for (size_t i = 0; i < n; i++) {
		int v = res[i].verdict, k = category_of(res[i].c->id);
		bool pass = v == EL_CONF_OK || v == EL_CONF_INFO;
		row->passed += pass;
		row->failed += v == EL_CONF_FAIL;
		row->skipped += v == EL_CONF_SKIP;
		if (k >= 0 && v != EL_CONF_SKIP) {
			row->cat_passed[k] += pass;
			row->cat_failed[k] += !pass;
		}
	}
	row->failed += check != 0;
	char limit[160];
	int lv = limit_verdict(w.end);
	if (lv >= 0) {
		row->verdict = lv;
		snprintf(row->detail, sizeof(row->detail), "the server: %s", limit_words(w.end, co, limit, sizeof(limit)));
	} else if (check != 0) {
		/* Ended before it listened: by a signal (through its shell and
		 * bwrap, an exit status of 128 + N) is a crash; else it never
		 * listened (it exited, or was still not listening). */
		int st = runner.sup.status;
		bool died = check != -ETIMEDOUT && st >= 0 &&
			    (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) > 128));
		row->verdict = died ? EL_CLASS_CRASHED : EL_CLASS_NEVER_LISTENED;
		snprintf(row->detail, sizeof(row->detail), "%s", why);
	} else if (runner.died_how[0]) {
		/* It died after it listened: in a case, or before the first. */
		row->verdict = EL_CLASS_CRASHED;
		snprintf(row->detail, sizeof(row->detail), "the server %s %s%s", runner.died_how,
			 runner.died_in[0] ? "in case " : "before its first case", runner.died_in);
	} else if (left) {
		row->verdict = EL_CLASS_CRASHED;
		snprintf(row->detail, sizeof(row->detail), "%s", fin);
	} else {
		row->verdict = EL_CLASS_GRADED;
	}
	if (u->sbx) {
		el_sbx_events(u->sbx, &w.ev);
		row->outside = w.ev.outside;
		row->cpu_s = w.ev.cpu_s;
		el_sbx_leave_net(u->sbx);
	}
	struct el_conf_report rep = {.o = &o, .res = res, .n = n, .command = co->command, .started_at = "",
				     .error = check != 0 ? why : NULL};
	char started[EL_TIME_LEN + 1];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	el_time_format(&now, started);
	rep.started_at = started;
	write_own_reports(co, own, &rep);
	row->reported = true;
	for (size_t i = 0; i < n; i++)
		free(res[i].transcript);
	free(res);
}

/* One submission, in a process of its own: copy, build, grade, report.
 * Fills row. */
static void grade_one(const struct el_class_opts *co, const char *name, int index, struct row *row)
{
	char own[PATH_MAX], src[PATH_MAX], why[512] = "", sbx_name[32];
	snprintf(own, sizeof(own), "%s/%s", co->out, name);
	snprintf(src, sizeof(src), "%s/%s", co->dir, name);
	snprintf(sbx_name, sizeof(sbx_name), "s%d", index);
	mkdir(own, 0755);
	struct el_sub u;
	if (el_sub_open(&u, src, sbx_name, !co->unsandboxed, &co->lim, why, sizeof(why)) < 0) {
		row->verdict = EL_CLASS_BUILD_FAILED;
		snprintf(row->detail, sizeof(row->detail), "the grader: %s", why);
		return;
	}
	char log[PATH_MAX + 16];
	snprintf(log, sizeof(log), "%s/build.log", own);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	struct el_sbx_result br;
	int rc = el_sub_run(&u, co->build, &co->lim, fd, &br);
	if (fd >= 0)
		close(fd);
	row->build_s = br.wall_s;
	row->cpu_s = br.ev.cpu_s;
	char limit[160];
	int lv = limit_verdict(br.end);
	if (rc < 0) {
		row->verdict = EL_CLASS_BUILD_FAILED;
		snprintf(row->detail, sizeof(row->detail), "the build could not start: %s", strerror(-rc));
	} else if (lv >= 0) {
		row->verdict = lv;
		snprintf(row->detail, sizeof(row->detail), "the build: %s", limit_words(br.end, co, limit, sizeof(limit)));
	} else if (br.end != EL_SBX_EXITED || br.code != 0) {
		row->verdict = EL_CLASS_BUILD_FAILED;
		snprintf(row->detail, sizeof(row->detail), "`%s` %s %d (build.log)", co->build,
			 br.end == EL_SBX_EXITED ? "exited" : "was killed by signal", br.code);
	} else {
		row->built = true;
		grade_server(co, &u, own, row);
	}
	row->outside += br.ev.outside;
	el_sub_close(&u);
}

/* ---- the class ---- */

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folders of dir, sorted (dot-folders left out). Returns how many,
 * or -errno. */
static int list_submissions(const char *dir, char ***out)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	char **names = NULL;
	int n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISDIR(st.st_mode) || strlen(e->d_name) >= 128)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **more = realloc(names, (size_t)cap * sizeof(*names));
			if (!more)
				break;
			names = more;
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, (size_t)n, sizeof(*names), by_name);
	*out = names;
	return n;
}

static void csv_field(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s == '\n' ? ' ' : *s, f);
	}
	fputc('"', f);
}

static int ncats(void)
{
	int n = 0;
	while (el_conf_categories[n] && n < MAX_CATS)
		n++;
	return n;
}

static void write_csv(FILE *f, const struct row *rows, int n)
{
	fputs("submission,verdict,passed,failed,skipped", f);
	for (int k = 0; k < ncats(); k++)
		fprintf(f, ",%s_passed,%s_failed", el_conf_categories[k], el_conf_categories[k]);
	fputs(",build_s,grade_s,cpu_s,outside_packets,load_msgs_per_s,load_p99_us,interrupted,detail\n", f);
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		csv_field(f, r->name);
		fprintf(f, ",%s,%d,%d,%d", el_class_verdict_name(r->verdict), r->passed, r->failed, r->skipped);
		for (int k = 0; k < ncats(); k++)
			fprintf(f, ",%d,%d", r->cat_passed[k], r->cat_failed[k]);
		fprintf(f, ",%.2f,%.2f,%.2f,%llu,", r->build_s, r->grade_s, r->cpu_s, (unsigned long long)r->outside);
		if (r->fig.ran)
			fprintf(f, "%.0f,%.0f,", r->fig.msgs_s, r->fig.p99_us);
		else
			fputs(",,", f);
		fprintf(f, "%s,", r->interrupted ? "yes" : "no");
		csv_field(f, r->detail);
		fputc('\n', f);
	}
}

/* --bench: the figures, filled by bench_class. */
static struct el_class_figure refs[EL_CLASS_NREFS];
static bool refs_run;

static void json_figure(FILE *f, const struct el_class_figure *g)
{
	if (g->ran)
		fprintf(f, "{\"msgs_per_s\": %.1f, \"p99_us\": %.0f, \"errors\": %lld, ", g->msgs_s, g->p99_us,
			g->errors);
	else
		fputs("{\"msgs_per_s\": null, \"p99_us\": null, \"errors\": null, ", f);
	fprintf(f, "\"start\": %.3f, \"end\": %.3f, \"note\": ", g->t_start, g->t_end);
	el_json_cstring(f, g->note);
	fputc('}', f);
}

static void html_figure(FILE *f, const struct el_class_figure *g)
{
	if (g->ran)
		fprintf(f, "%.0f msg/s, p99 %.0f us", g->msgs_s, g->p99_us);
	else
		fputs("none", f);
	if (g->note[0]) {
		fputs(" (", f);
		el_conf_html_text(f, g->note);
		fputc(')', f);
	}
}

static void write_json(FILE *f, const struct el_class_opts *co, const struct row *rows, int n, bool interrupted)
{
	fputs("{\"command\": ", f);
	el_json_cstring(f, co->command);
	fprintf(f, ", \"sandboxed\": %s, \"interrupted\": %s,\n \"limits\": {\"processes\": %ld, \"memory_mib\": %ld, "
		   "\"cpu_s\": %g, \"wall_s\": %g},\n \"submissions\": [\n",
		co->unsandboxed ? "false" : "true", interrupted ? "true" : "false", co->lim.pids, co->lim.memory_mib,
		co->lim.cpu_s, co->lim.wall_s);
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		fputs("  {\"submission\": ", f);
		el_json_cstring(f, r->name);
		fprintf(f, ", \"verdict\": \"%s\", \"passed\": %d, \"failed\": %d, \"skipped\": %d, \"categories\": {",
			el_class_verdict_name(r->verdict), r->passed, r->failed, r->skipped);
		for (int k = 0; k < ncats(); k++)
			fprintf(f, "%s\"%s\": {\"passed\": %d, \"failed\": %d}", k ? ", " : "", el_conf_categories[k],
				r->cat_passed[k], r->cat_failed[k]);
		fprintf(f, "}, \"built\": %s, \"build_s\": %.3f, \"grade_s\": %.3f, \"cpu_s\": %.3f, "
			   "\"outside_packets\": %llu, \"interrupted\": %s, \"detail\": ",
			r->built ? "true" : "false", r->build_s, r->grade_s, r->cpu_s, (unsigned long long)r->outside,
			r->interrupted ? "true" : "false");
		el_json_cstring(f, r->detail);
		fputs(", \"load\": ", f);
		if (r->benched)
			json_figure(f, &r->fig);
		else
			fputs("null", f);
		fprintf(f, ", \"report\": %s}%s\n", r->reported ? "true" : "false", i + 1 < n ? "," : "");
	}
	fputs(" ],\n \"load\": ", f);
	if (refs_run) {
		fprintf(f, "{\"clients\": %ld, \"seconds\": %g, \"warmup_s\": %g, \"reference\": [", co->bench_clients,
			EL_CLASS_BENCH_S, EL_CLASS_BENCH_WARMUP_S);
		for (int i = 0; i < EL_CLASS_NREFS; i++) {
			fprintf(f, "%s\n  {\"model\": \"%s\", \"figure\": ", i ? "," : "", el_class_ref_models[i]);
			json_figure(f, &refs[i]);
			fputc('}', f);
		}
		fputs("]}", f);
	} else {
		fputs("null", f);
	}
	fputs("\n}\n", f);
}

/* A link to a student's file: the name percent-encoded where a URL needs
 * it. */
static void html_href(FILE *f, const char *name, const char *file)
{
	fputs("<a href=\"", f);
	for (const char *p = name; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("-_.~", ch))
			fputc(ch, f);
		else
			fprintf(f, "%%%02X", ch);
	}
	fprintf(f, "/%s\">", file);
}

static void write_html(FILE *f, const struct el_class_opts *co, const struct row *rows, int n, bool interrupted)
{
	int count[EL_CLASS_NVERDICTS] = {0};
	for (int i = 0; i < n; i++)
		count[rows[i].verdict]++;
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
		   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		   "<title>echolab-conform: a class of %d</title>\n<style>\n"
		   "body{font:15px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:80em;padding:0 1em;color:#222}\n"
		   "table{border-collapse:collapse;width:100%%}td,th{padding:.3em .5em;border-bottom:1px solid #ddd;"
		   "text-align:left;vertical-align:top}\nth{cursor:pointer;user-select:none}th:after{content:' \\2195';"
		   "color:#aaa}\ntd.n{text-align:right;font-variant-numeric:tabular-nums}\n"
		   ".graded{background:#d9f2d9}.bad{background:#f8c9c9;font-weight:bold}\n"
		   "code{font:13px/1.35 ui-monospace,monospace}\n"
		   "@media (max-width:40em){.c,.t{display:none}}\n</style></head><body>\n"
		   "<h1>echolab-conform: a class of %d</h1>\n<p><code>",
		n, n);
	el_conf_html_text(f, co->command);
	fprintf(f, "</code><br>%s; limits: %ld processes, %ld MiB, %g s of CPU, %g s a phase%s</p>\n<p>",
		co->unsandboxed ? "<b>unsandboxed</b> (--unsandboxed)" : "each submission in a sandbox", co->lim.pids,
		co->lim.memory_mib, co->lim.cpu_s, co->lim.wall_s, interrupted ? "; <b>interrupted</b> (Ctrl-C)" : "");
	for (int v = 0; v < EL_CLASS_NVERDICTS; v++)
		if (count[v])
			fprintf(f, "%s%d %s", v ? " &middot; " : "", count[v], el_class_verdict_name(v));
	if (refs_run) {
		fprintf(f, "</p>\n<p>Load figures, one at a time with nothing beside them: %ld clients in a closed "
			   "loop, 64-byte messages, %g s after %g s of warm-up. Reference models (echolab-server): ",
			co->bench_clients, EL_CLASS_BENCH_S, EL_CLASS_BENCH_WARMUP_S);
		for (int i = 0; i < EL_CLASS_NREFS; i++) {
			fprintf(f, "%s<b>%s</b> ", i ? " &middot; " : "", el_class_ref_models[i]);
			html_figure(f, &refs[i]);
		}
	}
	fputs("</p>\n<div style=\"overflow-x:auto\"><table id=\"class\"><thead><tr><th>submission</th><th>verdict</th><th>passed</th>"
	      "<th>failed</th><th>skipped</th>",
	      f);
	for (int k = 0; k < ncats(); k++)
		fprintf(f, "<th class=\"c\">%s</th>", el_conf_categories[k]);
	fputs("<th>build</th><th class=\"t\">seconds</th>", f);
	if (refs_run)
		fputs("<th>load</th>", f);
	fputs("<th>sandbox</th><th>detail</th></tr></thead><tbody>\n", f);
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		fputs("<tr><td>", f);
		if (r->reported) {
			html_href(f, r->name, "report.html");
			el_conf_html_text(f, r->name);
			fputs("</a>", f);
		} else {
			el_conf_html_text(f, r->name);
		}
		fprintf(f, "</td><td class=\"%s\">%s</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%d</td>",
			r->verdict == EL_CLASS_GRADED ? "graded" : "bad", el_class_verdict_name(r->verdict), r->passed,
			r->failed, r->skipped);
		for (int k = 0; k < ncats(); k++) {
			int total = r->cat_passed[k] + r->cat_failed[k];
			if (total)
				fprintf(f, "<td class=\"n c\" data-v=\"%d\">%d/%d</td>", r->cat_passed[k], r->cat_passed[k],
					total);
			else
				fputs("<td class=\"n c\" data-v=\"-1\">-</td>", f);
		}
		fputs("<td>", f);
		html_href(f, r->name, "build.log");
		fprintf(f, "%s</a></td><td class=\"n t\">%.1f</td>", r->built ? "ok" : "failed", r->build_s + r->grade_s);
		if (refs_run) {
			fprintf(f, "<td data-v=\"%.0f\">", r->fig.ran ? r->fig.msgs_s : -1.0);
			if (r->benched)
				html_figure(f, &r->fig);
			else
				fputs("-", f);
			fputs("</td>", f);
		}
		fputs("<td>", f);
		if (r->outside)
			fprintf(f, "tried to reach outside: %llu packets dropped", (unsigned long long)r->outside);
		fprintf(f, "%s%.1f s CPU</td><td>", r->outside ? "; " : "", r->cpu_s);
		el_conf_html_text(f, r->detail);
		if (r->interrupted)
			fputs(" (interrupted)", f);
		fputs("</td></tr>\n", f);
	}
	/* Sorting by a column: numbers as numbers, "3/5" by its first. */
	fputs("</tbody></table></div>\n<script>\n"
	      "document.querySelectorAll('#class th').forEach(function(th,col){th.addEventListener('click',function(){\n"
	      "var tb=document.querySelector('#class tbody'),rows=Array.from(tb.rows),up=th.dataset.up!=='1';\n"
	      "th.dataset.up=up?'1':'0';function key(r){var c=r.cells[col],v=c.dataset.v!==undefined?c.dataset.v:c.textContent;"
	      "var x=parseFloat(v);return isNaN(x)?v.toLowerCase():x;}\n"
	      "rows.sort(function(a,b){var x=key(a),y=key(b);return (x<y?-1:x>y?1:0)*(up?1:-1);});"
	      "rows.forEach(function(r){tb.appendChild(r);});});});\n</script>\n</body></html>\n",
	      f);
}

/* class.csv, class.json, class.html into co->out. Returns 0 or -1. */
static int write_class(const struct el_class_opts *co, const struct row *rows, int n, bool interrupted)
{
	static const char *const files[] = {"class.csv", "class.json", "class.html"};
	int rc = 0;
	for (int i = 0; i < 3; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", co->out, files[i]);
		FILE *f = fopen(path, "w");
		if (!f) {
			fprintf(stderr, "echolab-conform: %s: %s\n", path, strerror(errno));
			rc = -1;
			continue;
		}
		if (i == 0)
			write_csv(f, rows, n);
		else if (i == 1)
			write_json(f, co, rows, n, interrupted);
		else
			write_html(f, co, rows, n, interrupted);
		if (fclose(f) != 0)
			rc = -1;
	}
	return rc;
}

/* In a grading process: Ctrl-C (the terminal's to the whole group, or the
 * class's passed on) stops its cases after the running one, however many
 * times it comes, so that its row is always written. */
static volatile sig_atomic_t *job_stop;

static void on_job_signal(int sig)
{
	(void)sig;
	*job_stop = 1;
}

static void print_figure(int k, int total, const char *name, const struct el_class_figure *f, const char *what)
{
	if (f->ran)
		printf("[load %d/%d] %s%s: %.0f msg/s, p99 %.0f us, errors %lld%s%s\n", k, total, name, what, f->msgs_s,
		       f->p99_us, f->errors, f->note[0] ? "; " : "", f->note);
	else
		printf("[load %d/%d] %s%s: no figure: %s\n", k, total, name, what, f->note);
	fflush(stdout);
}

/* A grading process: its submission's index and its pipe. */
struct job {
	pid_t pid;
	int index, fd;
	double t0;
};

/* Starts submission i's grading in a process of its own. */
static int start_job(const struct el_class_opts *co, char **names, int i, struct job *j)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		close(p[0]);
		job_stop = co->stop;
		struct sigaction sa = {.sa_handler = on_job_signal};
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		struct row row = {0};
		snprintf(row.name, sizeof(row.name), "%s", names[i]);
		grade_one(co, names[i], i, &row);
		ssize_t w = write(p[1], &row, sizeof(row));
		_exit(w == (ssize_t)sizeof(row) ? 0 : 1);
	}
	close(p[1]);
	*j = (struct job){pid, i, p[0], mono_s()};
	return 0;
}

/* Reads a finished job's row; a grading process that died without one is
 * the grader's failure, said in the row. */
static void finish_job(struct job *j, int status, struct row *row, const char *name)
{
	ssize_t n = read(j->fd, row, sizeof(*row));
	close(j->fd);
	if (n != (ssize_t)sizeof(*row)) {
		memset(row, 0, sizeof(*row));
		snprintf(row->name, sizeof(row->name), "%s", name);
		row->verdict = EL_CLASS_CRASHED;
		snprintf(row->detail, sizeof(row->detail), "the grader's own process for it failed (wait status %d): "
			 "a bug of echolab-conform, please report it", status);
	}
}

/* --bench: the reference models' figures, then each graded
 * submission's, one at a time with nothing else running. */

static void bench_class(const struct el_class_opts *co, struct row *rows, int n)
{
	int todo = 0;
	for (int i = 0; i < n; i++)
		todo += rows[i].verdict == EL_CLASS_GRADED;
	printf("echolab-conform: load figures, one at a time: %ld clients, %.0f s each after %.0f s, for %d "
	       "reference models and %d graded submissions\n",
	       co->bench_clients, EL_CLASS_BENCH_S, EL_CLASS_BENCH_WARMUP_S, EL_CLASS_NREFS, todo);
	fflush(stdout);
	el_class_bench_refs(co, refs);
	refs_run = true;
	int k = 0;
	for (int i = 0; i < EL_CLASS_NREFS; i++)
		print_figure(++k, EL_CLASS_NREFS + todo, el_class_ref_models[i], &refs[i], " (reference)");
	for (int i = 0; i < n && !*co->stop; i++) {
		if (rows[i].verdict != EL_CLASS_GRADED)
			continue;
		el_class_bench_one(co, rows[i].name, i, &rows[i].fig);
		rows[i].benched = true;
		print_figure(++k, EL_CLASS_NREFS + todo, rows[i].name, &rows[i].fig, "");
	}
}

int el_class_grade(const struct el_class_opts *co)
{
	char why[256];
	if (!co->unsandboxed && el_sbx_check(why, sizeof(why)) < 0) {
		fprintf(stderr, "echolab-conform: %s (or grade without one: --unsandboxed)\n", why);
		return 1;
	}
	char **names = NULL;
	int n = list_submissions(co->dir, &names);
	if (n < 0) {
		fprintf(stderr, "echolab-conform: --class %s: %s\n", co->dir, strerror(-n));
		return 1;
	}
	if (n == 0) {
		fprintf(stderr, "echolab-conform: --class %s: no submission folders in it\n", co->dir);
		free(names);
		return 1;
	}
	if (mkdir(co->out, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "echolab-conform: --out %s: %s\n", co->out, strerror(errno));
		return 1;
	}
	/* Absolute, for the processes that work in a submission's copy
	 * (unsandboxed, a grading or a figure runs there). */
	static char out_abs[PATH_MAX], dir_abs[PATH_MAX];
	static struct el_class_opts abs_co;
	if (!realpath(co->out, out_abs) || !realpath(co->dir, dir_abs)) {
		fprintf(stderr, "echolab-conform: --out %s: %s\n", co->out, strerror(errno));
		return 1;
	}
	abs_co = *co;
	abs_co.out = out_abs;
	abs_co.dir = dir_abs;
	co = &abs_co;
	struct row *rows = calloc((size_t)n, sizeof(*rows));
	struct job *jobs = calloc((size_t)co->jobs, sizeof(*jobs));
	if (!rows || !jobs) {
		fputs("echolab-conform: out of memory\n", stderr);
		return 1;
	}
	printf("echolab-conform: %d submissions in %s, %d at a time%s; reports into %s\n", n, co->dir, co->jobs,
	       co->unsandboxed ? ", UNSANDBOXED" : ", each in a sandbox", co->out);
	fflush(stdout);
	int next = 0, running = 0, graded = 0;
	bool passed_on = false;
	bool *done = calloc((size_t)n, sizeof(bool));
	double t0 = mono_s();
	while ((next < n && !*co->stop) || running > 0) {
		while (running < co->jobs && next < n && !*co->stop) {
			if (start_job(co, names, next, &jobs[running]) < 0) {
				fprintf(stderr, "echolab-conform: fork: %s\n", strerror(errno));
				break;
			}
			running++;
			next++;
		}
		if (running == 0)
			break;
		/* Ctrl-C: passed on to the grading processes once. */
		if (*co->stop && !passed_on) {
			for (int k = 0; k < running; k++)
				kill(jobs[k].pid, SIGINT);
			passed_on = true;
		}
		int st;
		pid_t pid = wait(&st);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int k = 0; k < running; k++) {
			if (jobs[k].pid != pid)
				continue;
			struct row *r = &rows[jobs[k].index];
			finish_job(&jobs[k], st, r, names[jobs[k].index]);
			done[jobs[k].index] = true;
			graded++;
			printf("[%d/%d] %s: %s, %d passed, %d failed, %d skipped (%.1f s)%s%s%s\n", graded, n, r->name,
			       el_class_verdict_name(r->verdict), r->passed, r->failed, r->skipped, mono_s() - jobs[k].t0,
			       r->detail[0] ? ": " : "", r->detail, r->interrupted ? " (interrupted)" : "");
			fflush(stdout);
			jobs[k] = jobs[--running];
			break;
		}
	}
	/* The rows in the class's order, those graded only. */
	int m = 0;
	for (int i = 0; i < n; i++)
		if (done[i])
			rows[m++] = rows[i];
	if (co->bench_clients > 0 && !*co->stop)
		bench_class(co, rows, m);
	int rc = write_class(co, rows, m, *co->stop != 0);
	printf("echolab-conform: %d of %d submissions graded in %.1f s: %s/class.html, class.csv, class.json\n", m, n,
	       mono_s() - t0, co->out);
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(rows);
	free(jobs);
	free(done);
	if (*co->stop)
		return 130;
	return rc < 0 ? 1 : 0;
}
