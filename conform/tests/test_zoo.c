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

/* Starts the zoo (with --defect defect, unless NULL) on a free port of
 * 127.0.0.1, written into port; returns its pid once it accepts. */
static pid_t zoo_on_free_port(const char *defect, char *port, size_t len)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(s, (struct sockaddr *)&a, &alen);
	close(s);
	snprintf(port, len, "%u", ntohs(a.sin_port));
	const char *zoo = env("ECHOLAB_ZOO");
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1); /* its log: not into the TAP stream */
		if (defect)
			execl(zoo, "zoo_server", "--port", port, "--defect", defect, (char *)NULL);
		else
			execl(zoo, "zoo_server", "--port", port, (char *)NULL);
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
	return pid;
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
	{"log-raw", "proto.log-escapes"},
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

/* The commonest student bug: dying of SIGPIPE when a client resets. The
 * grade leads with the cause, by the signal's name and what it usually
 * means, then the symptom a client saw; the case after it runs on a fresh
 * instance and says where the last one died. */
Test(zoo, sigpipe_death_leads_with_its_cause, .timeout = 120)
{
	static char out[1 << 18];
	int rc = grade("--defect", "crash-on-reset", "'robust.reset-mid-reply,robust.never-reads'", out, sizeof(out));
	cr_expect_eq(rc, 1, "exit %d:\n%s", rc, out);
	cr_expect_not_null(strstr(out, "FAIL robust.reset-mid-reply  20 clients reset with replies due; the server "
				       "serves on: the server died of SIGPIPE during the case: usually a write to a "
				       "connection its client had closed or reset, without send(2)'s MSG_NOSIGNAL and "
				       "without ignoring SIGPIPE (signal(SIGPIPE, SIG_IGN)); then "),
			   "%s", out);
	cr_expect_null(strstr(out, "(signal 13)"), "%s", out);
	/* robust.never-reads: a fresh instance, which its own reset kills. */
	cr_expect_not_null(strstr(out, "(a fresh instance: the last one died of SIGPIPE in case robust.reset-mid-reply)"),
			   "%s", out);
	for (const char *p = out; (p = strstr(p, "FAIL ")); p++) {
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)strcspn(p, "\n"), p);
		cr_expect_not_null(strstr(line, ": the server died of SIGPIPE during the case: "),
				   "a FAIL line that does not lead with the death: %s", line);
	}
}

/* A fuzz failure's replay is a whole command, echolab-netfuzz's (beside
 * echolab-conform) with the flags it takes: pasted into a shell while the
 * server runs on that port again, it replays the failing stream alone. */
Test(zoo, fuzz_replay_is_a_command_that_replays, .timeout = 120)
{
	static char out[1 << 18];
	int rc = grade("--defect", "nul-cut", "robust.fuzz", out, sizeof(out));
	cr_assert_eq(rc, 1, "exit %d:\n%s", rc, out);
	char want[4200];
	const char *conform = env("ECHOLAB_CONFORM");
	snprintf(want, sizeof(want), "; replay: %.*secholab-netfuzz --port ", (int)(strrchr(conform, '/') - conform + 1),
		 conform);
	const char *at = strstr(out, want);
	cr_assert_not_null(at, "no \"%s\" in:\n%s", want + 2, out);
	at += 10;
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "%.*s", (int)(strstr(at, "): ") - at), at);
	unsigned port = 0;
	long conn = -1;
	cr_assert_eq(sscanf(strstr(cmd, " --port "), " --port %u --seed 20261129 --conn %ld", &port, &conn), 2, "%s",
		     cmd);
	/* The server again on that port, then the command as it was printed. */
	char portarg[16];
	snprintf(portarg, sizeof(portarg), "%u", port);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1); /* its log: not into the TAP stream */
		execl(env("ECHOLAB_ZOO"), "zoo_server", "--port", portarg, "--defect", "nul-cut", (char *)NULL);
		_exit(127);
	}
	usleep(300000);
	char line[4400];
	snprintf(line, sizeof(line), "%s 2>&1", cmd);
	static char replayed[1 << 16];
	FILE *p = popen(line, "r");
	size_t n = fread(replayed, 1, sizeof(replayed) - 1, p);
	replayed[n] = 0;
	int st = pclose(p);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s: status %d:\n%s", cmd, st, replayed);
	char first[64];
	snprintf(first, sizeof(first), "the first: connection %ld (", conn);
	cr_expect_not_null(strstr(replayed, first), "%s:\n%s", cmd, replayed);
}

/* echolab-netfuzz's own failures name the same kind of command: itself,
 * with --port and the seed and connection; pasted, it replays. */
Test(zoo, netfuzz_names_its_own_replay, .timeout = 60)
{
	char port[16];
	pid_t pid = zoo_on_free_port("nul-cut", port, sizeof(port));
	char cmd[4096];
	static char out[1 << 16], replayed[1 << 16];
	snprintf(cmd, sizeof(cmd), "'%s' --port %s --seed 5 --duration 0.5 --quiet 2>&1", env("ECHOLAB_NETFUZZ"), port);
	int rc = run_sh(cmd, out, sizeof(out));
	cr_expect_eq(rc, 1, "%s", out);
	char want[4200];
	snprintf(want, sizeof(want), "; replay: %s --port %s --seed 5 --conn ", env("ECHOLAB_NETFUZZ"), port);
	const char *at = strstr(out, want);
	cr_expect_not_null(at, "no \"%s\" in:\n%s", want + 2, out);
	if (at) {
		at += 10;
		snprintf(cmd, sizeof(cmd), "%.*s 2>&1", (int)(strstr(at, "): ") - at), at);
		rc = run_sh(cmd, replayed, sizeof(replayed));
		cr_expect_eq(rc, 1, "%s:\n%s", cmd, replayed);
		long conn = atol(at + strlen(want) - 10);
		char first[64];
		snprintf(first, sizeof(first), "the first: connection %ld (", conn);
		cr_expect_not_null(strstr(replayed, first), "%s:\n%s", cmd, replayed);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
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

/* The examples of docs/conform.md, examples/class/fork/server.c and its thread twin:
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

/* A grade with every verdict (keep-cr: proto.crlf fails, proto.empty
 * passes, conc.concurrency is info, conc.busy skipped without
 * {max_conns}) and its reports in dir; returns the exit status and the
 * terminal's output in out. */
static int graded_reports(const char *dir, const char *server_cmd, char *out, size_t len)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd),
		 "'%s' --server-cmd \"%s\" --cases 'proto.crlf,proto.empty,conc.concurrency,conc.busy' "
		 "--junit '%s/r.xml' --json '%s/r.json' --html '%s/r.html' 2>&1",
		 env("ECHOLAB_CONFORM"), server_cmd, dir, dir, dir);
	return run_sh(cmd, out, len);
}

/* The last line of text. */
static void last_line(const char *text, char *line, size_t len)
{
	size_t n = strlen(text);
	while (n > 0 && text[n - 1] == '\n')
		n--;
	size_t start = n;
	while (start > 0 && text[start - 1] != '\n')
		start--;
	snprintf(line, len, "%.*s", (int)(n - start), text + start);
}

/* The terminal's last line counts info as passed (docs/interface.md fixes
 * it); the HTML page, read by an HTML parser, the JSON and the JUnit XML
 * give the same three numbers, the HTML saying how many passes were info. */
Test(reports, counts_agree_with_the_last_line, .timeout = 120)
{
	char dir[] = "/tmp/echolab-conform-counts.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char server[1024], out[1 << 16], cmd[4096], last[256], want[1024];
	snprintf(server, sizeof(server), "'%s' --port {port} --defect keep-cr", env("ECHOLAB_ZOO"));
	int rc = graded_reports(dir, server, out, sizeof(out));
	cr_expect_eq(rc, 1, "%s", out);
	last_line(out, last, sizeof(last));
	cr_expect_str_eq(last, "2 passed, 1 failed, 1 skipped", "%s", out);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c \"\n"
		 "import json, re, html.parser, xml.etree.ElementTree as E\n"
		 "class P(html.parser.HTMLParser):\n"
		 "    def __init__(s): super().__init__(); s.where = []; s.title = ''; s.sum = ''\n"
		 "    def handle_starttag(s, tag, a):\n"
		 "        s.where.append('sum' if dict(a).get('class') == 'sum' else tag)\n"
		 "    def handle_endtag(s, tag): s.where.pop()\n"
		 "    def handle_data(s, d):\n"
		 "        if 'title' in s.where: s.title += d\n"
		 "        if 'sum' in s.where: s.sum += d\n"
		 "p = P(); p.feed(open('%s/r.html').read())\n"
		 "j = json.load(open('%s/r.json'))\n"
		 "t = E.parse('%s/r.xml').find('testsuite')\n"
		 "n, f, k = (int(t.get(a)) for a in ('tests', 'failures', 'skipped'))\n"
		 "print(p.title.strip())\n"
		 "print(' '.join(p.sum.split()))\n"
		 "print('%%d passed, %%d failed, %%d skipped (%%d info)' %% (j['passed'], j['failed'], j['skipped'], j['info']))\n"
		 "print('%%d passed, %%d failed, %%d skipped' %% (n - f - k, f, k))\n"
		 "\" 2>&1",
		 dir, dir, dir);
	run_sh(cmd, out, sizeof(out));
	snprintf(want, sizeof(want),
		 "echolab-conform: %s\n%s\n%s\n%s\n", last,
		 "2 passed (1 of them info), 1 failed, 1 skipped", "2 passed, 1 failed, 1 skipped (1 info)", last);
	cr_expect_str_eq(out, want, "the HTML title and summary, the JSON, the JUnit XML");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

/* The command lines the reports show paste back into a shell: the HTML's
 * own command and a failure's replay, read by a shell's rules (Python's
 * shlex, POSIX mode), give the words given, quotes inside a word kept
 * (a server command quoting its path, a comment with a '); the replay,
 * run by /bin/sh, grades that case again. */
Test(reports, commands_paste_back_into_a_shell, .timeout = 120)
{
	char dir[] = "/tmp/echolab-conform-quotes.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char server[1024], out[1 << 16], cmd[8192];
	snprintf(server, sizeof(server), "'%s' --port {port} --defect keep-cr # the student's server",
		 env("ECHOLAB_ZOO"));
	graded_reports(dir, server, out, sizeof(out));
	snprintf(cmd, sizeof(cmd),
		 "python3 -c \"\n"
		 "import html, json, os, re, shlex\n"
		 "t = open('%s/r.html').read()\n"
		 "c = shlex.split(html.unescape(re.search('<p><code>(.*?)</code>', t).group(1)))\n"
		 "r = shlex.split(html.unescape(re.search('replay: <code>(.*?)</code>', t).group(1)))\n"
		 "j = shlex.split(json.load(open('%s/r.json'))['command'])\n"
		 "print(c == j, c[1:3] == r[1:3], r[3:], c[2] == os.environ['ECHOLAB_ZOO_SERVER_CMD'], c[-1])\n"
		 "\" 2>&1",
		 dir, dir);
	setenv("ECHOLAB_ZOO_SERVER_CMD", server, 1);
	run_sh(cmd, out, sizeof(out));
	char want[1024];
	snprintf(want, sizeof(want), "True True ['--cases', 'proto.crlf'] True %s/r.html\n", dir);
	cr_expect_str_eq(out, want, "HTML command == JSON command, the replay's server command, its case, "
				    "the server command word for word, the last word");
	/* The replay, pasted. */
	snprintf(cmd, sizeof(cmd),
		 "python3 -c \"import html, re; print(html.unescape(re.search('replay: <code>(.*?)</code>', "
		 "open('%s/r.html').read()).group(1)))\"",
		 dir);
	char replay[4096];
	run_sh(cmd, replay, sizeof(replay));
	replay[strcspn(replay, "\n")] = 0;
	snprintf(cmd, sizeof(cmd), "%s 2>&1", replay);
	int rc = run_sh(cmd, out, sizeof(out));
	cr_expect_eq(rc, 1, "%s:\n%s", replay, out);
	cr_expect_not_null(strstr(out, "FAIL proto.crlf "), "%s:\n%s", replay, out);
	cr_expect_not_null(strstr(out, "\n0 passed, 1 failed, 0 skipped\n"), "%s:\n%s", replay, out);
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

/* The server's log (docs/protocol.md, "The server's log"): echolab's own
 * models log each reply's line, MSG escaped, and pass both log cases;
 * with --quiet they log nothing, and both are skipped, saying why. */
Test(log, echolab_models_pass_the_log_cases, .timeout = 120)
{
	const char *models[] = {"epoll", "thread"};
	for (size_t i = 0; i < 2; i++) {
		for (int quiet = 0; quiet < 2; quiet++) {
			char cmd[4096], out[1 << 16];
			snprintf(cmd, sizeof(cmd), "'%s' --cases 'proto.log-*' --server-cmd '%s --model %s%s --port {port}' 2>&1",
				 env("ECHOLAB_CONFORM"), env("ECHOLAB_SERVER"), models[i], quiet ? " --quiet" : "");
			int rc = run_sh(cmd, out, sizeof(out));
			cr_expect_eq(rc, 0, "%s: exit %d:\n%s", models[i], rc, out);
			const char *want[] = {"ok   proto.log-matches-reply  ", "ok   proto.log-escapes  "};
			const char *skipped[] = {"skip proto.log-matches-reply  ", "skip proto.log-escapes  "};
			for (int k = 0; k < 2; k++) {
				const char *at = strstr(out, quiet ? skipped[k] : want[k]);
				cr_expect_not_null(at, "%s%s:\n%s", models[i], quiet ? " --quiet" : "", out);
				if (at && quiet)
					cr_expect_not_null(strstr(at, ": the server wrote nothing on its standard output "),
							   "%s --quiet: %s", models[i], out);
			}
		}
	}
}

/* With --target no one has the server's standard output: skipped, saying
 * what to use instead. */
Test(log, a_target_skips_the_log_cases, .timeout = 60)
{
	char port[16];
	pid_t pid = zoo_on_free_port(NULL, port, sizeof(port));
	char cmd[1024], out[1 << 16];
	snprintf(cmd, sizeof(cmd), "'%s' --target 127.0.0.1:%s --cases 'proto.log-*' 2>&1", env("ECHOLAB_CONFORM"),
		 port);
	int rc = run_sh(cmd, out, sizeof(out));
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	cr_expect_eq(rc, 0, "%s", out);
	cr_expect_not_null(strstr(out, "skip proto.log-matches-reply  "), "%s", out);
	cr_expect_not_null(strstr(out, "skip proto.log-escapes  "), "%s", out);
	cr_expect_not_null(strstr(out, ": needs the server's standard output: use --server-cmd\n"), "%s", out);
	cr_expect_not_null(strstr(out, "\n0 passed, 0 failed, 2 skipped\n"), "%s", out);
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
