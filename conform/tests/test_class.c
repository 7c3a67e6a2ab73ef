/* echolab-conform --class against a zoo of hostile submissions
 * (class-zoo/README.md) and three of examples/class, graded as one class
 * inside the sandbox: every verdict right, every limit killing, every
 * escape failing, and afterwards nothing of them left on the machine.
 * Run by sandbox/tests/safety-net (meson.build): a pid namespace, a
 * network namespace whose loopback and 198.18.0.1 are the "outside" the
 * zoo tries to reach, and on cgroup v1 a pids and memory cgroup above
 * every sandbox made here. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

static char work[64], class_dir[128], out_dir[128];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static char *slurp(const char *path)
{
	static char buf[1 << 16];
	buf[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return buf;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	return buf;
}

/* A listener of the test's own "outside": counts the connections it
 * accepts. */
struct outside {
	int fd;
	unsigned port;
	int accepted;
	volatile bool done;
	pthread_t th;
};

static void *accept_loop(void *arg)
{
	struct outside *o = arg;
	while (!o->done) {
		struct pollfd p = {.fd = o->fd, .events = POLLIN};
		if (poll(&p, 1, 100) > 0) {
			int c = accept(o->fd, NULL, NULL);
			if (c >= 0) {
				o->accepted++;
				close(c);
			}
		}
	}
	return NULL;
}

static void outside_open(struct outside *o, const char *addr)
{
	o->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, addr, &a.sin_addr);
	socklen_t len = sizeof(a);
	cr_assert(o->fd >= 0 && bind(o->fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(o->fd, 16) == 0 &&
			  getsockname(o->fd, (struct sockaddr *)&a, &len) == 0,
		  "listening on %s: %s (is this run in the safety net, which adds it?)", addr, strerror(errno));
	o->port = ntohs(a.sin_port);
	o->accepted = 0;
	o->done = false;
	pthread_create(&o->th, NULL, accept_loop, o);
}

static void outside_close(struct outside *o)
{
	o->done = true;
	pthread_join(o->th, NULL);
	close(o->fd);
}

/* The live processes in this pid namespace (zombies aside). */
static int live_procs(void)
{
	DIR *d = opendir("/proc");
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char path[300], line[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		char *p = f && fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		if (f)
			fclose(f);
		if (p && p[2] != 'Z')
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* The class.csv row of a submission: its verdict, passed and failed, and
 * its outside_packets (the column after cpu_s). */
struct row {
	char verdict[32];
	int passed, failed;
	unsigned long long outside;
	char line[1024];
};

static bool find_row(const char *csv, const char *name, struct row *r)
{
	char key[64];
	snprintf(key, sizeof(key), "\n\"%s\",", name);
	const char *p = strstr(csv, key);
	if (!p)
		return false;
	p += strlen(key);
	snprintf(r->line, sizeof(r->line), "%.*s", (int)strcspn(p, "\n"), p);
	/* verdict,passed,failed,skipped, 5 categories x 2, build_s, grade_s,
	 * cpu_s, outside_packets */
	char *fields[32];
	char copy[1024];
	snprintf(copy, sizeof(copy), "%s", r->line);
	int n = 0;
	for (char *save, *t = strtok_r(copy, ",", &save); t && n < 32; t = strtok_r(NULL, ",", &save))
		fields[n++] = t;
	if (n < 18)
		return false;
	snprintf(r->verdict, sizeof(r->verdict), "%s", fields[0]);
	r->passed = atoi(fields[1]);
	r->failed = atoi(fields[2]);
	r->outside = strtoull(fields[17], NULL, 10);
	return true;
}

static void setup(void)
{
	char why[256];
	if (el_sbx_check(why, sizeof(why)) < 0)
		cr_skip_test("%s", why);
	snprintf(work, sizeof(work), "/tmp/echolab-class-test.XXXXXX");
	cr_assert_not_null(mkdtemp(work));
	snprintf(class_dir, sizeof(class_dir), "%s/class", work);
	snprintf(out_dir, sizeof(out_dir), "%s/out", work);
}

static void teardown(void)
{
	if (work[0])
		sh("rm -rf '%s'", work);
}

TestSuite(class, .init = setup, .fini = teardown, .timeout = 600);

Test(class, a_zoo_of_hostile_submissions_gets_every_verdict_right_and_leaves_nothing)
{
	const char *zoo = getenv("ECHOLAB_CLASS_ZOO"), *ex = getenv("ECHOLAB_EXAMPLES_CLASS");
	cr_assert(zoo && ex, "ECHOLAB_CLASS_ZOO and ECHOLAB_EXAMPLES_CLASS");
	/* The class: the zoo, three examples, and the correct server copied
	 * into every zoo folder that builds it. */
	sh("mkdir -p '%s' && cp -R '%s'/. '%s' && rm -f '%s/README.md'", class_dir, zoo, class_dir, class_dir);
	sh("cp -R '%s/fork' '%s/correct' && cp -R '%s/single-read' '%s/typo' '%s'", ex, class_dir, ex, ex, class_dir);
	const char *needs[] = {"outside", "writer", "reader", "killer"};
	for (size_t i = 0; i < 4; i++)
		sh("cp '%s/fork/server.c' '%s/%s/'", ex, class_dir, needs[i]);
	char secret[64];
	snprintf(secret, sizeof(secret), "zoo-secret-%d-%ld", getpid(), (long)random());
	sh("echo '%s' > '%s/correct/secret.txt'", secret, class_dir);
	struct outside lo, far;
	outside_open(&lo, "127.0.0.1");
	outside_open(&far, "198.18.0.1");
	sh("printf '127.0.0.1 %u\\n198.18.0.1 %u\\n' > '%s/outside/outside.addr'", lo.port, far.port, class_dir);
	sh("cd '%s' && find . -type f | sort | xargs md5sum > '%s/before.md5'", class_dir, work);
	int before = live_procs();

	char log[160], cmd[2048];
	snprintf(log, sizeof(log), "%s/grader.log", work);
	snprintf(cmd, sizeof(cmd),
		 "'%s' --class '%s' --server-cmd './server {port}' --out '%s' --jobs 2 "
		 "--cases 'proto.reply-format,proto.split-every-byte,proto.pipelining' --max-procs 64 --max-memory 64 "
		 "--max-cpu 3 --max-time 40 > '%s' 2>&1",
		 getenv("ECHOLAB_CONFORM"), class_dir, out_dir, log);
	int rc = system(cmd);
	outside_close(&lo);
	outside_close(&far);
	cr_assert_eq(WEXITSTATUS(rc), 0, "exit %d: %s", WEXITSTATUS(rc), slurp(log));

	char csv_path[160];
	snprintf(csv_path, sizeof(csv_path), "%s/class.csv", out_dir);
	char *csv = strdup(slurp(csv_path));
	const struct {
		const char *name, *verdict;
	} want[] = {
		{"bomb", "process-limit"}, {"hog", "memory-limit"},  {"spinner", "time-limit"},
		{"outside", "graded"},      {"writer", "graded"},     {"reader", "graded"},
		{"killer", "crashed"},      {"daemon", "never-listened"}, {"silent", "never-listened"},
		{"typo", "build-failed"},   {"correct", "graded"},    {"single-read", "graded"},
	};
	struct row r;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_assert(find_row(csv, want[i].name, &r), "no row for %s in class.csv:\n%s", want[i].name, csv);
		cr_expect_str_eq(r.verdict, want[i].verdict, "%s: %s", want[i].name, r.line);
	}
	cr_expect_eq(strncmp(csv, "submission,verdict,passed,failed,skipped,", 41), 0, "%s", csv);
	/* The correct server passes what it is asked; the single-read bug
	 * fails the split and the pipelined messages. */
	find_row(csv, "correct", &r);
	cr_expect(r.failed == 0 && r.passed == 3, "correct: %s", r.line);
	find_row(csv, "single-read", &r);
	cr_expect(r.failed >= 1, "single-read: %s", r.line);
	for (const char *const *n = (const char *const[]){"outside", "writer", "reader", NULL}; *n; n++) {
		find_row(csv, *n, &r);
		cr_expect_eq(r.failed, 0, "%s: the correct server it built: %s", *n, r.line);
	}
	/* Outside: the packets went into the trap, and no listener of the
	 * test's saw a connection. */
	/* The killer's kill -9 -1 killed its own shell (its server's
	 * parent, in its pid namespace), nothing of the others: they are
	 * graded as they would be alone. */
	find_row(csv, "killer", &r);
	/* Its shell's status, 128 + SIGKILL: before it listened, or after
	 * (the real server started a moment before the namespace went). */
	cr_expect(strstr(r.line, "137") || strstr(r.line, "SIGKILL"), "killer: %s", r.line);
	find_row(csv, "outside", &r);
	cr_expect_gt(r.outside, 0, "outside: no packet toward outside counted: %s", r.line);
	cr_expect_eq(lo.accepted + far.accepted, 0, "the outside was reached: %d connections", lo.accepted + far.accepted);
	char path[256];
	snprintf(path, sizeof(path), "%s/outside/build.log", out_dir);
	cr_expect_null(strstr(slurp(path), "REACHED"), "%s", slurp(path));
	/* The reader found nothing of the others. */
	snprintf(path, sizeof(path), "%s/reader/build.log", out_dir);
	cr_expect_null(strstr(slurp(path), secret), "the reader read another submission: %s", slurp(path));
	cr_expect_null(strstr(slurp(path), "echolab-class-test"), "the reader saw the grader's folders: %s",
		       slurp(path));
	/* The typo's compiler error is kept. */
	snprintf(path, sizeof(path), "%s/typo/build.log", out_dir);
	cr_expect_not_null(strstr(slurp(path), "error"), "%s", slurp(path));
	/* Nothing written outside its folder. */
	const char *never[] = {"/etc/echolab-zoo-written", "/usr/echolab-zoo-written", "/work/echolab-zoo-written"};
	for (size_t i = 0; i < 3; i++)
		cr_expect_neq(access(never[i], F_OK), 0, "%s was written", never[i]);
	snprintf(path, sizeof(path), "%s/echolab-zoo-written", class_dir);
	cr_expect_neq(access(path, F_OK), 0, "%s was written", path);
	/* The class's own folders as they were: the grader works on copies. */
	sh("cd '%s' && find . -type f | sort | xargs md5sum > '%s/after.md5'", class_dir, work);
	sh("cmp -s '%s/before.md5' '%s/after.md5'", work, work);
	/* No process of theirs left: the daemon, the bomb, the spinner. */
	int after = live_procs();
	for (int i = 0; i < 100 && after > before; i++) {
		usleep(50000);
		after = live_procs();
	}
	cr_expect_eq(after, before, "processes: %d before, %d after", before, after);
	/* The reports: a row a submission in class.html, each student's own
	 * page. */
	snprintf(path, sizeof(path), "%s/class.html", out_dir);
	const char *html = slurp(path);
	cr_expect_not_null(strstr(html, "<table id=\"class\">"), "class.html");
	cr_expect_not_null(strstr(html, "href=\"single-read/report.html\""), "class.html");
	snprintf(path, sizeof(path), "%s/correct/junit.xml", out_dir);
	cr_expect_not_null(strstr(slurp(path), "<testsuite"), "correct/junit.xml");
	free(csv);
}

/* Runs echolab-conform with argv (NULL-terminated) as uid (0: as this
 * process is), its standard error into err; sends SIGINT once its
 * standard output has a line starting "[1/" when interrupt. Returns the
 * exit status. */
static int conform_as(uid_t uid, bool interrupt, char *err, size_t errlen, const char *const *argv)
{
	int po[2], pe[2];
	cr_assert(pipe(po) == 0 && pipe(pe) == 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		if (uid && (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0))
			_exit(99);
		execv(getenv("ECHOLAB_CONFORM"), (char *const *)argv);
		_exit(98);
	}
	close(po[1]);
	close(pe[1]);
	char out[8192];
	size_t n = 0;
	bool sent = false;
	for (ssize_t r; (r = read(po[0], out + n, sizeof(out) - 1 - n)) > 0;) {
		n += (size_t)r;
		out[n] = 0;
		if (interrupt && !sent && strstr(out, "\n[1/")) {
			kill(pid, SIGINT);
			sent = true;
		}
	}
	ssize_t e = read(pe[0], err, errlen - 1);
	err[e > 0 ? e : 0] = 0;
	close(po[0]);
	close(pe[0]);
	int st;
	waitpid(pid, &st, 0);
	cr_expect(!interrupt || sent, "no submission was graded: %s", out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Without root the sandbox cannot be made: one line says so, and how to
 * grade without one, and nothing is graded. */
Test(class, without_root_one_line_says_what_is_missing)
{
	char err[1024], self[160];
	/* A copy the unprivileged user can reach, wherever the build is. */
	snprintf(self, sizeof(self), "%s/echolab-conform", work);
	sh("chmod 711 '%s' && cp '%s' '%s'", work, getenv("ECHOLAB_CONFORM"), self);
	setenv("ECHOLAB_CONFORM", self, 1);
	const char *argv[] = {"echolab-conform", "--class", "/tmp", "--server-cmd", "./server {port}", "--out", out_dir, NULL};
	int rc = conform_as(EL_SBX_UID, false, err, sizeof(err), argv);
	cr_expect_eq(rc, 1, "exit %d: %s", rc, err);
	cr_expect_not_null(strstr(err, "needs root"), "%s", err);
	cr_expect_not_null(strstr(err, "--unsandboxed"), "%s", err);
	cr_expect_eq(strchr(err, '\n'), strrchr(err, '\n'), "more than one line: %s", err);
	cr_expect_neq(access(out_dir, F_OK), 0, "%s was made", out_dir);
}

/* Ctrl-C after the first submission: the others being graded stop after
 * their running case, no more start, and the report of what was graded
 * is written; exit 130. */
Test(class, ctrl_c_writes_the_report_of_what_was_graded)
{
	char err[1024], path[160];
	const char *ex = getenv("ECHOLAB_EXAMPLES_CLASS");
	const char *argv[] = {"echolab-conform", "--class", ex, "--server-cmd", "./server {port}", "--out", out_dir,
			      "--jobs", "1", NULL};
	int rc = conform_as(0, true, err, sizeof(err), argv);
	cr_expect_eq(rc, 130, "exit %d: %s", rc, err);
	snprintf(path, sizeof(path), "%s/class.csv", out_dir);
	const char *csv = slurp(path);
	cr_expect_eq(strncmp(csv, "submission,verdict,", 19), 0, "%s", csv);
	int rows = 0;
	for (const char *p = strchr(csv, '\n'); p && p[1]; p = strchr(p + 1, '\n'))
		rows++;
	cr_expect(rows >= 1 && rows < 4, "%d rows of 4 submissions: %s", rows, csv);
	snprintf(path, sizeof(path), "%s/class.json", out_dir);
	cr_expect_not_null(strstr(slurp(path), "\"interrupted\": true"), "%s", slurp(path));
}

/* The number after key in text, from its first occurrence at or after
 * from; NAN when the key is not there or its value is null. */
static double num_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	if (!p || strncmp(p + strlen(key), "null", 4) == 0)
		return NAN;
	return strtod(p + strlen(key), NULL);
}

static int by_start(const void *a, const void *b)
{
	const double *x = a, *y = b;
	return (x[0] > y[0]) - (x[0] < y[0]);
}

/* --bench: a figure for each reference model and each graded submission,
 * none for the one that did not build, each by the bench's own cell (its
 * files kept), and no two figures at once, though two submissions were
 * graded at a time. One client: a sequential server's second client would
 * wait out the load's 5 s timeout, and the test would wait with it. */
Test(class, bench_figures_run_one_at_a_time_for_every_graded_submission)
{
	char log[160], cmd[2048], path[256], three[160];
	snprintf(log, sizeof(log), "%s/grader.log", work);
	snprintf(three, sizeof(three), "%s/three", work);
	const char *ex = getenv("ECHOLAB_EXAMPLES_CLASS");
	sh("mkdir '%s' && cp -R '%s/fork' '%s/single-read' '%s/typo' '%s'", three, ex, ex, ex, three);
	snprintf(cmd, sizeof(cmd),
		 "'%s' --class '%s' --server-cmd './server {port}' --out '%s' --jobs 2 --cases proto.reply-format "
		 "--bench 1 > '%s' 2>&1",
		 getenv("ECHOLAB_CONFORM"), three, out_dir, log);
	int rc = system(cmd);
	cr_assert_eq(WEXITSTATUS(rc), 0, "exit %d: %s", WEXITSTATUS(rc), slurp(log));
	snprintf(path, sizeof(path), "%s/class.json", out_dir);
	char *json = strdup(slurp(path));
	const char *load = strstr(json, "\n \"load\": {");
	cr_assert_not_null(load, "no load figures in class.json: %s", json);
	cr_expect_eq(num_after(load, "\"clients\": "), 1, "%s", load);
	const char *refs[] = {"iterative", "fork", "thread"};
	for (size_t i = 0; i < 3; i++) {
		char key[64];
		snprintf(key, sizeof(key), "\"model\": \"%s\"", refs[i]);
		const char *p = strstr(load, key);
		cr_assert_not_null(p, "no reference %s: %s", refs[i], load);
		cr_expect_gt(num_after(p, "\"msgs_per_s\": "), 0, "reference %s: %s", refs[i], p);
	}
	const char *subs[] = {"fork", "single-read"};
	for (size_t i = 0; i < 2; i++) {
		char key[64];
		snprintf(key, sizeof(key), "{\"submission\": \"%s\"", subs[i]);
		const char *p = strstr(json, key);
		cr_assert_not_null(p, "no %s: %s", subs[i], json);
		const char *fig = strstr(p, "\"load\": {");
		cr_assert(fig && fig < strchr(p, '\n'), "%s has no figure: %.*s", subs[i], (int)strcspn(p, "\n"), p);
		cr_expect_gt(num_after(fig, "\"msgs_per_s\": "), 0, "%s: %.*s", subs[i], (int)strcspn(p, "\n"), p);
		cr_expect_gt(num_after(fig, "\"p99_us\": "), 0, "%s: %.*s", subs[i], (int)strcspn(p, "\n"), p);
		snprintf(path, sizeof(path), "%s/%s/bench/load.json", out_dir, subs[i]);
		cr_expect_eq(access(path, F_OK), 0, "%s: the cell's files are not kept", path);
	}
	const char *typo = strstr(json, "{\"submission\": \"typo\"");
	cr_assert_not_null(typo);
	const char *none = strstr(typo, "\"load\": null");
	cr_expect(none && none < strchr(typo, '\n'), "typo did not build, yet: %.*s", (int)strcspn(typo, "\n"), typo);
	/* Five figures, and no two windows overlap. */
	double w[16][2];
	int n = 0;
	for (const char *p = strstr(json, "\"start\": "); p && n < 16; p = strstr(p + 1, "\"start\": ")) {
		w[n][0] = num_after(p, "\"start\": ");
		w[n][1] = num_after(p, "\"end\": ");
		n++;
	}
	cr_expect_eq(n, 5, "%d figures: %s", n, json);
	qsort(w, (size_t)n, sizeof(w[0]), by_start);
	for (int i = 0; i + 1 < n; i++)
		cr_expect_leq(w[i][1], w[i + 1][0], "two figures at once: %.3f-%.3f and %.3f-%.3f", w[i][0], w[i][1],
			      w[i + 1][0], w[i + 1][1]);
	snprintf(path, sizeof(path), "%s/class.csv", out_dir);
	cr_expect_not_null(strstr(slurp(path), ",load_msgs_per_s,load_p99_us,"), "%s", slurp(path));
	snprintf(path, sizeof(path), "%s/class.html", out_dir);
	cr_expect_not_null(strstr(slurp(path), "Reference models (echolab-server)"), "class.html");
	free(json);
}
