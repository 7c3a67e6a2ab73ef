/* The runner of echolab-conform (runner.c) driven directly, with cases of
 * this file's own: what a grade says when the server dies. The server is
 * the zoo's crash-on-reset defect (one process, SIGPIPE not ignored), a
 * correct server otherwise; a case, or the test between cases, kills it
 * with the signal under test, so that the death is where the test wants
 * it, not where a race puts it. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cases.h"

static volatile sig_atomic_t no_stop;
static char server_cmd[1024];
static int kill_with;

/* The options of a grade by command: the zoo exec'd as it is, or (shell)
 * run by /bin/sh -c, as a quoted path is. */
static void setup(struct el_conf_opts *o, bool shell)
{
	const char *zoo = getenv("ECHOLAB_ZOO");
	cr_assert_not_null(zoo, "ECHOLAB_ZOO is not set (run through meson test)");
	cr_assert_null(strpbrk(zoo, " '\"$\\"), "the test takes a plain path: %s", zoo);
	snprintf(server_cmd, sizeof(server_cmd), shell ? "'%s' --port {port} --defect crash-on-reset"
						       : "%s --port {port} --defect crash-on-reset",
		 zoo);
	/* Waits scale by how slow this run is, as echolab-conform's do. */
	int slow = getenv("ECHOLAB_UNDER_VALGRIND") ? 20 : getenv("ECHOLAB_UNDER_ASAN") ? 3 : 1;
	*o = (struct el_conf_opts){.server_cmd = server_cmd, .max_line = 8192, .timeout_s = 5, .skew_s = 2,
				   .slow = slow, .self = "echolab-conform", .stop = &no_stop};
	snprintf(o->host, sizeof(o->host), "127.0.0.1");
	/* A SIGSEGV or SIGABRT of the test's own making leaves no core. */
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core);
}

/* The server's process: the one started, or the shell's child. */
static pid_t server_pid(pid_t started)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)started, (int)started);
	FILE *f = fopen(path, "r");
	int child = 0;
	if (f && fscanf(f, "%d", &child) != 1)
		child = 0;
	if (f)
		fclose(f);
	return child > 0 ? child : started;
}

/* Kills the server with sig and waits until it has ended (a zombie, or
 * reaped by its shell): no sleep that a slow run (valgrind's leak check
 * at a fatal signal) could outlast. */
static void kill_and_wait(pid_t pid, int sig)
{
	kill(pid, sig);
	for (int ms = 0; ms < 60000; ms += 5) {
		char path[64], buf[512] = "";
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		FILE *f = fopen(path, "r");
		if (!f)
			return;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		const char *p = strrchr(buf, ')');
		if (!p || p[2] == 'Z')
			return;
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
}

/* A message and its echo. */
static void served(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	cf_roundtrip(x, c, "served");
}

/* The server is killed mid-case: the client then sees its end (EOF or a
 * reset), which is the symptom; the signal is the cause. */
static void killed_mid_case(struct el_conf_ctx *x)
{
	struct el_conf_client *c = cf_open(x);
	cf_roundtrip(x, c, "before");
	kill_and_wait(server_pid(x->sup->pid), kill_with);
	cf_roundtrip(x, c, "after");
}

static const struct el_conf_case served_case = {"test.served", "a message is answered", "Transport", 0,
						.run = served};
static const struct el_conf_case killed_case = {"test.killed", "the server is killed mid-case", "Transport", 0,
						.run = killed_mid_case};

/* The signal's name (sigabbrev), what it usually means, then the
 * symptom the client saw. */
static const struct {
	int sig;
	const char *lead;
} deaths[] = {
	{SIGPIPE, "the server died of SIGPIPE during the case: usually a write to a connection its client had "
		  "closed or reset, without send(2)'s MSG_NOSIGNAL and without ignoring SIGPIPE "
		  "(signal(SIGPIPE, SIG_IGN)); then c1: "},
	{SIGSEGV, "the server died of SIGSEGV during the case: an invalid memory access"},
	{SIGABRT, "the server died of SIGABRT during the case: abort(): a failed assert()"},
	{SIGUSR1, "the server died of SIGUSR1 (User defined signal 1) during the case"},
};

Test(runner, a_death_leads_the_reason_by_its_signal_name, .timeout = 60)
{
	for (size_t k = 0; k < 2 * sizeof(deaths) / sizeof(deaths[0]); k++) {
		size_t i = k / 2;
		bool shell = k % 2;
		struct el_conf_opts o;
		setup(&o, shell);
		struct el_conf_runner r;
		el_conf_runner_init(&r, &o);
		struct el_conf_result res;
		kill_with = deaths[i].sig;
		el_conf_run(&r, &killed_case, &res);
		cr_expect_eq(res.verdict, EL_CONF_FAIL, "%s", res.reason);
		cr_expect_eq(strncmp(res.reason, deaths[i].lead, strlen(deaths[i].lead)), 0,
			     "signal %d%s: the reason should begin \"%s\":\n%s", deaths[i].sig,
			     shell ? " (through a shell)" : "", deaths[i].lead, res.reason);
		if (shell) {
			char status[64];
			snprintf(status, sizeof(status), "(its shell exited with status %d)", 128 + deaths[i].sig);
			cr_expect(res.transcript && strstr(res.transcript, status), "%s", res.transcript);
		}
		cr_expect_not_null(strstr(res.reason, "; then c1: "), "the symptom after the cause: %s", res.reason);
		cr_expect_null(strstr(res.reason, "signal 13"), "%s", res.reason);
		free(res.transcript);
		/* The next case runs on a fresh instance, and says why. */
		el_conf_run(&r, &served_case, &res);
		cr_expect_eq(res.verdict, EL_CONF_OK, "%s", res.reason);
		cr_expect(res.transcript && strstr(res.transcript, "(a fresh instance: the last one died of SIG"), "%s",
			  res.transcript);
		cr_expect(res.transcript && strstr(res.transcript, " in case test.killed)"), "%s", res.transcript);
		free(res.transcript);
		char why[256];
		cr_expect_eq(el_conf_runner_finish(&r, why, sizeof(why)), 0, "%s", why);
	}
}

/* Dead between two cases (after the first one's check): the second says
 * so, naming the case after which the server died, instead of the
 * refused connects it would see; the third gets a fresh instance. */
Test(runner, a_case_after_the_death_names_where_it_died, .timeout = 60)
{
	struct el_conf_opts o;
	setup(&o, false);
	struct el_conf_runner r;
	el_conf_runner_init(&r, &o);
	struct el_conf_result res;
	el_conf_run(&r, &served_case, &res);
	cr_assert_eq(res.verdict, EL_CONF_OK, "%s", res.reason);
	free(res.transcript);
	kill_and_wait(server_pid(r.sup.pid), SIGPIPE);
	el_conf_run(&r, &served_case, &res);
	cr_expect_eq(res.verdict, EL_CONF_FAIL);
	cr_expect_str_eq(res.reason,
			 "the server was already dead: it died of SIGPIPE after case test.served: usually a write to a "
			 "connection its client had closed or reset, without send(2)'s MSG_NOSIGNAL and without "
			 "ignoring SIGPIPE (signal(SIGPIPE, SIG_IGN))");
	free(res.transcript);
	el_conf_run(&r, &served_case, &res);
	cr_expect_eq(res.verdict, EL_CONF_OK, "a fresh instance: %s", res.reason);
	free(res.transcript);
	char why[256];
	cr_expect_eq(el_conf_runner_finish(&r, why, sizeof(why)), 0, "%s", why);
}

/* Dead after the last case: the finish says so (one more failure). */
Test(runner, a_death_after_the_last_case_is_reported, .timeout = 60)
{
	struct el_conf_opts o;
	setup(&o, false);
	struct el_conf_runner r;
	el_conf_runner_init(&r, &o);
	struct el_conf_result res;
	el_conf_run(&r, &served_case, &res);
	cr_assert_eq(res.verdict, EL_CONF_OK, "%s", res.reason);
	free(res.transcript);
	kill_and_wait(server_pid(r.sup.pid), SIGSEGV);
	char why[512];
	cr_expect_eq(el_conf_runner_finish(&r, why, sizeof(why)), -1);
	cr_expect_eq(strncmp(why, "the server died of SIGSEGV after the last case (test.served): ", 61), 0, "%s", why);
}

/* The table of cases (cases/cases.def): every id once, in a family the
 * reports group by, with a title, a function, and a section that is one
 * of docs/protocol.md's headings (or docs/interface.md's server page),
 * the one the reports link to. A row with a misspelt section would link
 * nowhere. */
Test(table, every_case_has_a_family_a_function_and_a_real_section)
{
	static const char *const families[] = {"proto.", "conc.", "robust.", "life.", "wire."};
	cr_assert_gt(el_conf_ncases, 30);
	for (size_t i = 0; i < el_conf_ncases; i++) {
		const struct el_conf_case *c = &el_conf_cases[i];
		bool family = false;
		for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++)
			family |= strncmp(c->id, families[f], strlen(families[f])) == 0;
		cr_expect(family, "%s: not in a family", c->id);
		cr_expect_not_null(c->run, "%s: no function", c->id);
		cr_expect(c->title && c->title[0], "%s: no title", c->id);
		for (size_t j = 0; j < i; j++)
			cr_expect_str_neq(el_conf_cases[j].id, c->id, "%s is listed twice", c->id);
		char heading[256];
		snprintf(heading, sizeof(heading), "\n## %s\n", c->section);
		cr_expect(strncmp(c->section, "docs/interface.md: ", 19) == 0 ||
				  strstr(el_conf_protocol_md, heading) != NULL,
			  "%s: section \"%s\" is not a heading of docs/protocol.md", c->id, c->section);
	}
}
