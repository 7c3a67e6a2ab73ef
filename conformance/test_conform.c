/* The protocol's behaviours for every model, through echolab-conform: the
 * same cases a user runs against their own server (conform/cases.c), so
 * that no behaviour is checked by two bodies. Each model once annotated
 * (every case but raw mode's) and once with --raw (raw mode's, and those
 * of conc, robust and life that speak raw too): no case is skipped.
 * --max-line 512, not the default, so that the flag is checked too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define T_OPTS .timeout = 900

/* Runs echolab-conform on this model, exec'd without a shell (valgrind
 * follows children, but not through /bin/sh); returns its exit status,
 * its output in out. */
static int conform(const char *model, bool raw, const char *cases, char *out, size_t len)
{
	const char *conform = getenv("ECHOLAB_CONFORM"), *server = getenv("ECHOLAB_SERVER");
	cr_assert(conform && server, "ECHOLAB_CONFORM and ECHOLAB_SERVER must be set (meson test)");
	const char *preload = getenv("ECHOLAB_SERVER_PRELOAD");
	char cmd[4096], slow[16];
	snprintf(cmd, sizeof(cmd),
		 "%s%s%s%s --model %s%s --port {port} --backlog {backlog} --max-line {max_line} --max-conns "
		 "{max_conns} --idle-timeout {idle_timeout}",
		 preload && *preload ? "env LD_PRELOAD=" : "", preload && *preload ? preload : "",
		 preload && *preload ? " " : "", server, model, raw ? " --raw" : "");
	snprintf(slow, sizeof(slow), "%d", th_slow_factor());
	setenv("ECHOLAB_SLOW_FACTOR", slow, 1);
	const char *argv[] = {conform, "--tap", "--max-line", "512", "--cases", cases, "--server-cmd", cmd,
			      raw ? "--raw" : NULL, NULL};
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execv(conform, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < len && (r = read(p[0], out + n, len - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void graded(const char *model, bool raw, const char *cases_in)
{
	static char out[1 << 20];
	/* Under valgrind, as for the hostile suite, the storms and the fuzzer
	 * at 1/20 speed add minutes and nothing ASan's run does not check. */
	char cases[512];
	bool vg = getenv("ECHOLAB_UNDER_VALGRIND") != NULL;
	/* Capture needs root; without it the wire cases are left out here
	 * (echolab-conform itself would say skip), and said so. */
	if (geteuid() != 0)
		cr_log_warn("not root: the wire cases cannot capture and are left out");
	snprintf(cases, sizeof(cases), "%s%s%s", cases_in,
		 vg ? ",!robust.connect-storm,!robust.slowloris,!robust.fuzz,!wire.*" : "",
		 geteuid() != 0 ? ",!wire.*" : "");
	int rc = conform(model, raw, cases, out, sizeof(out));
	const char *last = strstr(out, "# ");
	for (const char *p = last; p && (p = strstr(p + 1, "\n# ")); last = p + 1)
		;
	cr_log_info("%s%s: %s", model, raw ? " --raw" : "", last ? last : "(no summary)");
	cr_expect_eq(rc, 0, "%s%s: echolab-conform exited %d:\n%s", model, raw ? " --raw" : "", rc, out);
	cr_expect_null(strstr(out, "# SKIP"), "%s%s: a case was skipped:\n%s", model, raw ? " --raw" : "", out);
	cr_expect_not_null(strstr(out, "\n1.."), "%s: no TAP plan:\n%s", model, out);
}

MODEL_TEST(every_case_annotated, T_OPTS)
{
	graded(param->name, false, "proto.*,conc.*,robust.*,life.*,wire.*,!proto.raw-*");
}

MODEL_TEST(every_case_raw, T_OPTS)
{
	graded(param->name, true,
	       "proto.raw-*,conc.concurrency,conc.many-clients,robust.reset-*,robust.never-reads,"
	       "robust.connect-storm,life.*");
}
