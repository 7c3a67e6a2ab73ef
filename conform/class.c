#include "class.h"
#include "class_row.h"

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

/* ---- one submission ---- */

static const char *const verdict_names[EL_CLASS_NVERDICTS] = {
	"graded", "build-failed", "never-listened", "crashed", "process-limit", "memory-limit", "time-limit",
};

const char *el_class_verdict_name(int v)
{
	return v >= 0 && v < EL_CLASS_NVERDICTS ? verdict_names[v] : "?";
}


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
		else if (w->co->lim.wall_s > 0 && el_io_now_s() - w->t0 > w->co->lim.wall_s)
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
	struct watch w = {.co = co, .u = u, .stop = &stop_cases, .end = EL_SBX_EXITED, .t0 = el_io_now_s()};
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
	row->grade_s = el_io_now_s() - w.t0;
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
	*j = (struct job){pid, i, p[0], el_io_now_s()};
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

static void bench_class(const struct el_class_opts *co, struct row *rows, int n,
			struct el_class_figure refs[EL_CLASS_NREFS])
{
	int todo = 0;
	for (int i = 0; i < n; i++)
		todo += rows[i].verdict == EL_CLASS_GRADED;
	printf("echolab-conform: load figures, one at a time: %ld clients, %.0f s each after %.0f s, for %d "
	       "reference models and %d graded submissions\n",
	       co->bench_clients, EL_CLASS_BENCH_S, EL_CLASS_BENCH_WARMUP_S, EL_CLASS_NREFS, todo);
	fflush(stdout);
	el_class_bench_refs(co, refs);
	int k = 0;
	for (int i = 0; i < EL_CLASS_NREFS; i++)
		print_figure(++k, EL_CLASS_NREFS + todo, refs[i].model, &refs[i], " (reference)");
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
	double t0 = el_io_now_s();
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
			       el_class_verdict_name(r->verdict), r->passed, r->failed, r->skipped, el_io_now_s() - jobs[k].t0,
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
	static struct el_class_figure refs[EL_CLASS_NREFS];
	bool benched = co->bench_clients > 0 && !*co->stop;
	if (benched)
		bench_class(co, rows, m, refs);
	int rc = el_class_write_reports(co, rows, m, benched ? refs : NULL, *co->stop != 0);
	printf("echolab-conform: %d of %d submissions graded in %.1f s: %s/class.html, class.csv, class.json\n", m, n,
	       el_io_now_s() - t0, co->out);
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
