/* echolab-conform's own test: the zoo (zoo_server.c). Every classic defect
 * fails on the case that names it; every legal variant passes every case
 * (raw mode and packet capture aside). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

struct zoo_param {
	char what[24];  /* a defect or a variant */
	char cases[48]; /* the case that names the defect; "" for a variant */
};

static const char *env(const char *name)
{
	const char *v = getenv(name);
	cr_assert_not_null(v, "%s is not set (run through meson test)", name);
	return v;
}

/* Runs echolab-conform on a zoo server; returns its exit status and its
 * output in out. */
static int grade(const char *flag, const char *what, const char *cases, char *out, size_t len)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
		 "'%s' --server-cmd \"'%s' --port {port} %s %s --max-line {max_line} --max-conns {max_conns} "
		 "--idle-timeout {idle_timeout} --backlog {backlog}\" %s%s 2>&1",
		 env("ECHOLAB_CONFORM"), env("ECHOLAB_ZOO"), flag, what, cases[0] ? "--cases " : "", cases);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static struct zoo_param defects[] = {
	{"read-as-message", "proto.split-every-byte"},
	{"nul-cut", "proto.nul"},
	{"keep-cr", "proto.crlf"},
	{"drop-partial", "proto.partial-at-eof"},
	{"no-line-limit", "proto.max-line-plus-1"},
	{"local-time", "proto.time-utc"},
	{"seconds-time", "proto.time-format"},
	{"server-port", "proto.client-port"},
	{"no-lf", "proto.reply-format"},
	{"crash-on-reset", "robust.reset-mid-reply"},
	{"never-close", "proto.close-fin"},
	{"no-busy", "conc.busy"},
};

ParameterizedTestParameters(zoo, defect_fails_on_its_case)
{
	return cr_make_param_array(struct zoo_param, defects, sizeof(defects) / sizeof(defects[0]));
}

ParameterizedTest(struct zoo_param *p, zoo, defect_fails_on_its_case, .timeout = 120)
{
	static char out[1 << 18];
	int rc = grade("--defect", p->what, p->cases, out, sizeof(out));
	cr_expect_eq(rc, 1, "%s: echolab-conform exited %d:\n%s", p->what, rc, out);
	char want[96];
	snprintf(want, sizeof(want), "FAIL %s ", p->cases);
	cr_expect_not_null(strstr(out, want), "%s: no FAIL on %s:\n%s", p->what, p->cases, out);
	cr_expect_not_null(strstr(out, "replay: "), "%s: no replay command:\n%s", p->what, out);
}

static struct zoo_param variants[] = {
	{"correct", ""},
	{"pieces", ""},
	{"slow", ""},
	{"iterative", ""},
};

ParameterizedTestParameters(zoo, legal_variant_passes)
{
	return cr_make_param_array(struct zoo_param, variants, sizeof(variants) / sizeof(variants[0]));
}

ParameterizedTest(struct zoo_param *p, zoo, legal_variant_passes, .timeout = 300)
{
	static char out[1 << 18];
	int rc = grade("--variant", p->what, "'proto.*,conc.*,robust.*,life.*'", out, sizeof(out));
	cr_expect_eq(rc, 0, "%s: echolab-conform exited %d:\n%s", p->what, rc, out);
	cr_expect_null(strstr(out, "\nFAIL "), "%s:\n%s", p->what, out);
}
