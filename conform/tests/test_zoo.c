/* echolab-conform's own test: the zoo (zoo_server.c). Every classic defect
 * fails on the case that names it; every legal variant passes every case
 * (raw mode and packet capture aside). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct zoo_param {
	char what[24];  /* a defect or a variant */
	char cases[48]; /* the case that names the defect; "" for a variant */
};

static const char *env(const char *name)
{
	const char *v = getenv(name);
	cr_assert_not_null(v, "%s is not set (run through meson test)", name);
	/* echolab-conform scales its waits and bounds by how slow this run
	 * is: ASan's zoo servers keep freed memory in quarantine. */
	if (getenv("ECHOLAB_UNDER_VALGRIND"))
		setenv("ECHOLAB_SLOW_FACTOR", "20", 1);
	else if (getenv("ECHOLAB_UNDER_ASAN"))
		setenv("ECHOLAB_SLOW_FACTOR", "3", 1);
	return v;
}

/* Runs echolab-conform on a zoo server; returns its exit status and its
 * output in out. */
static int grade(const char *flag, const char *what, const char *cases, char *out, size_t len)
{
	char cmd[4096];
	/* An iterative server has no way to say "! busy" while it serves
	 * (it does not accept): it takes no {max_conns}, and conc.busy is
	 * skipped for it, as for any server without the setting. */
	bool iterative = strcmp(what, "iterative") == 0;
	snprintf(cmd, sizeof(cmd),
		 "'%s' --server-cmd \"'%s' --port {port} %s %s --max-line {max_line}%s "
		 "--idle-timeout {idle_timeout} --backlog {backlog}\" %s%s 2>&1",
		 env("ECHOLAB_CONFORM"), env("ECHOLAB_ZOO"), flag, what, iterative ? "" : " --max-conns {max_conns}",
		 cases[0] ? "--cases " : "", cases);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void params_free(struct criterion_test_params *crp)
{
	cr_free(crp->params);
}

/* The table in Criterion's own memory, freed by it (a static table left
 * Criterion's parameter bookkeeping leaked, as LeakSanitizer saw). */
static struct criterion_test_params params_of(const struct zoo_param *table, size_t n)
{
	struct zoo_param *p = cr_malloc(sizeof(*p) * n);
	memcpy(p, table, sizeof(*p) * n);
	return cr_make_param_array(struct zoo_param, p, n, params_free);
}

static const struct zoo_param defects[] = {
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
	return params_of(defects, sizeof(defects) / sizeof(defects[0]));
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

static const struct zoo_param variants[] = {
	{"correct", ""},
	{"pieces", ""},
	{"slow", ""},
	{"iterative", ""},
};

ParameterizedTestParameters(zoo, legal_variant_passes)
{
	return params_of(variants, sizeof(variants) / sizeof(variants[0]));
}

ParameterizedTest(struct zoo_param *p, zoo, legal_variant_passes, .timeout = 300)
{
	static char out[1 << 18];
	int rc = grade("--variant", p->what, "'proto.*,conc.*,robust.*,life.*'", out, sizeof(out));
	cr_expect_eq(rc, 0, "%s: echolab-conform exited %d:\n%s", p->what, rc, out);
	cr_expect_null(strstr(out, "\nFAIL "), "%s:\n%s", p->what, out);
}

/* Raw mode (RFC 862) against servers nobody here wrote: Node.js's net
 * module piping a socket into itself, and socat running cat per
 * connection. */
static void peer_passes(const char *program, const char *cmd)
{
	char path[256];
	snprintf(path, sizeof(path), "/usr/bin/%s", program);
	if (access(path, X_OK) != 0)
		cr_skip_test("no %s (ci/bootstrap installs it)", path);
	static char out[1 << 18];
	char line[4096];
	snprintf(line, sizeof(line), "'%s' --raw --cases 'proto.raw-*,conc.*,robust.*,life.*' --server-cmd \"%s\" 2>&1",
		 env("ECHOLAB_CONFORM"), cmd);
	FILE *p = popen(line, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	int st = pclose(p);
	const char *last = out;
	for (const char *q = out; (q = strstr(q, " passed, ")); q++)
		last = q;
	while (last > out && last[-1] != '\n')
		last--;
	cr_log_info("%s: %.*s", program, (int)strcspn(last, "\n"), last);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %d:\n%s", program, st, out);
	cr_expect_not_null(strstr(out, " 0 failed"), "%s:\n%s", program, out);
}

Test(peers, node_net_echo_passes_raw_mode, .timeout = 300)
{
	peer_passes("node", "node -e \\\"require('net').createServer(s => { s.on('error', () => {}); "
			    "s.pipe(s); }).listen(+process.argv[1], '127.0.0.1')\\\" {port}");
}

Test(peers, socat_cat_passes_raw_mode, .timeout = 300)
{
	peer_passes("socat", "socat TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork EXEC:cat");
}

/* The examples of docs/conform.md, examples/fork_echo_server.c and its thread twin:
 * every case it can take (its command has {port} and {max_line} only)
 * passes. */
static void example_passes(const char *path)
{
	static char out[1 << 18];
	char line[4096];
	snprintf(line, sizeof(line), "'%s' --server-cmd \"'%s' {port} {max_line}\" 2>&1", env("ECHOLAB_CONFORM"),
		 path);
	FILE *p = popen(line, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	int st = pclose(p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d:\n%s", st, out);
	cr_expect_not_null(strstr(out, " 0 failed"), "%s", out);
	cr_expect_null(strstr(out, "\nFAIL "), "%s", out);
}

Test(examples, fork_echo_server_passes, .timeout = 300)
{
	example_passes(env("ECHOLAB_EXAMPLE"));
}

Test(examples, thread_echo_server_passes, .timeout = 300)
{
	example_passes(env("ECHOLAB_EXAMPLE_THREAD"));
}

/* The reports: JUnit XML that parses (Python's XML parser, as CI systems'
 * would) with one testcase per case and the failure's transcript; JSON
 * that parses; an HTML page that needs nothing but itself. */
Test(reports, junit_json_and_html_of_a_failing_run, .timeout = 120)
{
	char dir[] = "/tmp/echolab-conform-reports.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char cmd[4096], out[1 << 16];
	snprintf(cmd, sizeof(cmd),
		 "'%s' --server-cmd \"'%s' --port {port} --defect keep-cr\" --cases 'proto.crlf,proto.empty,conc.busy' "
		 "--junit %s/r.xml --json %s/r.json --html %s/r.html >/dev/null 2>&1; echo $?",
		 env("ECHOLAB_CONFORM"), env("ECHOLAB_ZOO"), dir, dir, dir);
	FILE *p = popen(cmd, "r");
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	pclose(p);
	cr_expect_eq(atoi(out), 1, "exit status %s", out);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c \"import sys, json, xml.etree.ElementTree as E; t = E.parse('%s/r.xml'); "
		 "c = t.findall('.//testcase'); f = t.findall('.//failure'); s = t.findall('.//skipped'); "
		 "j = json.load(open('%s/r.json')); "
		 "print(len(c), len(f), len(s), len(j['cases']), j['failed'], "
		 "'c1 > ' in f[0].text and 'replay:' in f[0].text)\" 2>&1",
		 dir, dir);
	p = popen(cmd, "r");
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	pclose(p);
	cr_expect_str_eq(out, "3 1 1 3 1 True\n", "testcases, failures, skipped, JSON cases, failed, transcript");
	char path[128];
	snprintf(path, sizeof(path), "%s/r.html", dir);
	FILE *h = fopen(path, "r");
	cr_assert_not_null(h);
	static char html[1 << 20];
	n = fread(html, 1, sizeof(html) - 1, h);
	html[n] = 0;
	fclose(h);
	cr_expect_not_null(strstr(html, "<details><summary>transcript</summary>"));
	cr_expect_not_null(strstr(html, "id=\"spec-client-to-server-messages\""), "the protocol's sections");
	cr_expect_null(strstr(html, "src="), "the page loads nothing");
	cr_expect_null(strstr(html, "href=\"http"), "the page links nothing outside itself");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

/* --target: a server already running (here the example, started by the
 * test on a port it chose): the cases that need their own instance or a
 * setting are skipped with the reason, the others pass. */
Test(target, grades_a_running_server, .timeout = 300)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(s, (struct sockaddr *)&a, &alen);
	close(s);
	char port[16];
	snprintf(port, sizeof(port), "%u", ntohs(a.sin_port));
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execl(env("ECHOLAB_EXAMPLE"), env("ECHOLAB_EXAMPLE"), port, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		bool up = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (up)
			break;
		usleep(10000);
	}
	static char out[1 << 18];
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "'%s' --target 127.0.0.1:%s --cases 'proto.*,conc.*,robust.*,!robust.slowloris' 2>&1",
		 env("ECHOLAB_CONFORM"), port);
	FILE *p = popen(cmd, "r");
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	int st = pclose(p);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d:\n%s", st, out);
	cr_expect_not_null(strstr(out, "ok   proto.pipelining"), "%s", out);
	cr_expect_not_null(strstr(out, "skip conc.busy"), "%s", out);
	cr_expect_not_null(strstr(out, "--target's settings are unknown"), "%s", out);
}

/* Bad usage: exit 2 and one line that names the problem. */
Test(usage, bad_usage_exits_2_with_one_line)
{
	const char *bad[][3] = {
		{"", "", ""},                                          /* neither --server-cmd nor --target */
		{"--server-cmd", "server --port 1", ""},               /* no {port} */
		{"--server-cmd", "server --port {port} --x {what}", ""}, /* an unknown placeholder */
		{"--target", "nohost", ""},                            /* no port */
		{"--target", "127.0.0.1:1", "--cases=nothing.*"},      /* no case matches */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char cmd[1024], out[4096];
		snprintf(cmd, sizeof(cmd), "'%s' %s%s%s%s %s 2>&1 >/dev/null; echo \"status $?\"", env("ECHOLAB_CONFORM"),
			 bad[i][0], bad[i][1][0] ? " '" : "", bad[i][1], bad[i][1][0] ? "'" : "", bad[i][2]);
		FILE *p = popen(cmd, "r");
		size_t n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = 0;
		pclose(p);
		int lines = 0;
		for (char *q = out; *q; q++)
			lines += *q == '\n';
		cr_expect_not_null(strstr(out, "status 2\n"), "case %zu: %s", i, out);
		cr_expect_eq(lines, 2, "case %zu: one line then the status: %s", i, out);
		cr_expect_not_null(strstr(out, "echolab-conform: "), "case %zu: %s", i, out);
	}
}

/* Runs a shell command line; returns its exit status and its standard
 * output and error, together, in out. */
static int run_sh(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int lines_of(const char *text)
{
	int n = 0;
	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* A server that never starts is one line naming the cause (not a FAIL per
 * case), then the last line counting it as one failure; exit 1. */
Test(unreachable, a_server_that_never_starts_is_one_line, .timeout = 60)
{
	char cmd[1024], out[1 << 16];
	snprintf(cmd, sizeof(cmd), "'%s' --server-cmd '/bin/false {port}' 2>&1", env("ECHOLAB_CONFORM"));
	int rc = run_sh(cmd, out, sizeof(out));
	cr_expect_eq(rc, 1, "exit %d:\n%s", rc, out);
	cr_expect_eq(lines_of(out), 2, "the cause, then the last line:\n%s", out);
	cr_expect_not_null(strstr(out, "echolab-conform: the server did not start: it exited with status 1 before it "
				       "was ready (command: /bin/false "),
			   "%s", out);
	cr_expect_not_null(strstr(out, "\n0 passed, 1 failed, 0 skipped\n"), "%s", out);
}

/* --target where nothing listens: one line naming the address and the
 * refusal, then the last line; exit 1. */
Test(unreachable, a_target_that_refuses_is_one_line, .timeout = 60)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(s, (struct sockaddr *)&a, &alen);
	close(s); /* bound, then released: nothing listens there */
	char cmd[1024], out[1 << 16], want[64];
	snprintf(cmd, sizeof(cmd), "'%s' --target 127.0.0.1:%u 2>&1", env("ECHOLAB_CONFORM"), ntohs(a.sin_port));
	int rc = run_sh(cmd, out, sizeof(out));
	cr_expect_eq(rc, 1, "exit %d:\n%s", rc, out);
	cr_expect_eq(lines_of(out), 2, "the cause, then the last line:\n%s", out);
	snprintf(want, sizeof(want), "echolab-conform: no server at 127.0.0.1:%u: ", ntohs(a.sin_port));
	cr_expect_not_null(strstr(out, want), "%s", out);
	cr_expect_not_null(strstr(out, "Connection refused\n"), "%s", out);
	cr_expect_not_null(strstr(out, "\n0 passed, 1 failed, 0 skipped\n"), "%s", out);
}
