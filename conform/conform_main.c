/* echolab-conform: grades any echo server against docs/protocol.md
 * (docs/interface.md fixes its flags, its lines and its exit codes). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "class.h"
#include "cli.h"
#include "conform.h"
#include "reply.h"
#include "version.h"

#define usage_error(...) el_cli_usage("echolab-conform", __VA_ARGS__)

static const char usage_text[] =
	"usage: echolab-conform (--server-cmd CMD | --target HOST:PORT) [--raw]\n"
	"                       [--max-line N] [--cases PATTERNS] [--list] [--timeout S]\n"
	"                       [--skew S] [--junit FILE] [--json FILE] [--html FILE]\n"
	"                       [--tap] [--quiet] [--sandbox] [--build CMD]\n"
	"       echolab-conform --class DIR --server-cmd CMD [--build CMD] [--out OUT]\n"
	"                       [--jobs N] [--max-procs N] [--max-memory MIB]\n"
	"                       [--max-cpu S] [--max-time S] [--unsandboxed] [--bench CLIENTS]\n"
	"                       [--cases ...]\n"
	"\n"
	"Grades an echo server, echolab's or anyone's, against the echolab protocol\n"
	"(docs/protocol.md): one line per case, ok, FAIL, info (a measured\n"
	"behaviour) or skip, then its id, title and reason; a failure also shows\n"
	"what was sent, expected and received, and the command that replays it.\n"
	"\n"
	"  --server-cmd CMD   start the server with /bin/sh -c CMD, a fresh instance\n"
	"                     where a case needs one; placeholders: {port} (required,\n"
	"                     a free port chosen here), {bind}, {backlog}, {max_line},\n"
	"                     {max_conns}, {idle_timeout}; a case that needs a\n"
	"                     setting CMD lacks is skipped. Ready when {port} accepts\n"
	"                     a connection; stopped with SIGTERM, then SIGKILL\n"
	"  --target HOST:PORT a server already running (cases that need their own\n"
	"                     instance or a setting are skipped)\n"
	"  --raw              grade RFC 862 raw mode: bytes back verbatim\n"
	"  --max-line N       the server's longest message (default 8192)\n"
	"  --cases PATTERNS   comma-separated shell patterns over case ids\n"
	"                     ('proto.*,robust.reset-*'); a leading ! leaves out\n"
	"                     ('!robust.*')\n"
	"  --list             print every case id and title, and exit\n"
	"  --timeout S        seconds to wait for a reply (default 5)\n"
	"  --skew S           how far TIME may be from this machine's clock (default 2)\n"
	"  --junit FILE       JUnit XML, one testcase per case\n"
	"  --json FILE        the results as JSON\n"
	"  --html FILE        a report page (one file, no network needed)\n"
	"  --tap              TAP on standard output instead of the lines\n"
	"  --quiet            only failures and the last line\n"
	"  --sandbox          copy this folder, and build (--build) and run the\n"
	"                     server there inside a sandbox, as --class does\n"
	"\n"
	"A class (docs/conform.md): every folder of DIR is a submission, copied,\n"
	"built and started in its copy inside a sandbox (bubblewrap, namespaces,\n"
	"cgroups; root): its own user, network (loopback only) and processes,\n"
	"nothing of the host writable, the limits below, and every process it made\n"
	"killed at the end. Each gets a verdict: graded, build-failed,\n"
	"never-listened, crashed, process-limit, memory-limit or time-limit.\n"
	"  --class DIR        grade every folder of DIR\n"
	"  --build CMD        how a submission is built, in its folder (default make)\n"
	"  --out OUT          where the reports go (default class-report): class.html,\n"
	"                     class.csv, class.json, and OUT/NAME/ for each student\n"
	"  --jobs N           submissions graded at once (default: the CPUs)\n"
	"  --max-procs N      processes and threads at once (default 1024)\n"
	"  --max-memory MIB   memory of all its processes (default 512)\n"
	"  --max-cpu S        CPU seconds, build and server together (default 120)\n"
	"  --max-time S       wall-clock seconds of the build, and of the grading\n"
	"                     (default 300)\n"
	"  --unsandboxed      no sandbox (no root needed): only for code you trust\n"
	"  --bench CLIENTS    a load figure for each graded submission and for the\n"
	"                     reference models (echolab-server's iterative, fork and\n"
	"                     thread): msg/s and p99 of CLIENTS clients, 3 s after 1 s,\n"
	"                     by echolab-bench's code, one at a time after the grading\n"
	"  --help             this text\n"
	"  --version          the version, and the git checkout it was built from\n"
	"\n"
	"The last line is \"N passed, N failed, N skipped\". A server that cannot\n"
	"be reached (it does not start, or nothing accepts at the target) is one\n"
	"line naming why, before any case, and counts as one failure. Exit 0 when\n"
	"no case failed, 1 when one did, 2 on bad usage. Ctrl-C stops after the\n"
	"running case.\n"
	"\n"
	"With --class: a line a submission as it is graded, then the reports' paths.\n"
	"Exit 0 when the class was graded and its report written (whatever the\n"
	"verdicts), 1 when it could not be (without root or cgroups, one line says\n"
	"what is missing), 2 on bad usage, 130 after Ctrl-C (the report of what was\n"
	"graded written).\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	if (stop)
		_exit(130);
	stop = 1;
}

static FILE *open_out(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "echolab-conform: %s: %s\n", path, strerror(errno));
	return f;
}

static void print_tap(FILE *out, const struct el_conf_opts *o, const struct el_conf_result *r, size_t i)
{
	if (r->verdict == EL_CONF_SKIP) {
		fprintf(out, "ok %zu - %s # SKIP %s\n", i, r->c->id, r->reason);
	} else {
		fprintf(out, "%s %zu - %s %s%s%s\n", r->verdict == EL_CONF_FAIL ? "not ok" : "ok", i, r->c->id,
			r->c->title, r->reason[0] ? ": " : "", r->reason);
		if (r->verdict == EL_CONF_FAIL) {
			for (const char *p = r->transcript; p && *p;) {
				const char *nl = strchr(p, '\n');
				size_t len = nl ? (size_t)(nl - p) : strlen(p);
				fprintf(out, "# %.*s\n", (int)len, p);
				p += len + (nl != NULL);
			}
			char replay[8192];
			el_conf_replay(o, r->c->id, replay, sizeof(replay));
			fprintf(out, "# replay: %s\n", replay);
		}
	}
	fflush(out);
}

/* The command line beyond the runner's options. */
struct args {
	const char *target, *cases, *junit, *json, *html;
	bool list, tap, quiet;
	const char *class_dir, *build, *out;
	bool sandbox, unsandboxed;
	long jobs;
	long bench; /* --bench CLIENTS */
	struct el_sbx_limits lim;
};

/* --bench: echolab-monitor beside this program (else one line, 1) and
 * echolab-server (else the reference models have no figure, said in the
 * report). */
static int find_bench_programs(char *server, char *monitor, size_t len, struct el_class_opts *co)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(monitor, len, "%s/echolab-monitor", self);
	snprintf(server, len, "%s/echolab-server", self);
	if (access(monitor, X_OK) < 0) {
		fprintf(stderr, "echolab-conform: --bench needs echolab-monitor beside echolab-conform (%s)\n", monitor);
		return 1;
	}
	co->monitor_bin = monitor;
	co->server_bin = access(server, X_OK) == 0 ? server : NULL;
	return 0;
}

/* Parses argv into o and a. Returns -1 to go on, or the exit status (0
 * after --help or --version, 2 after a usage error). */
static int parse_args(int argc, char **argv, struct el_conf_opts *o, struct args *a)
{
	enum { O_SERVER = EL_CLI_OPT_FIRST, O_TARGET, O_RAW, O_MAXLINE, O_CASES, O_LIST, O_TIMEOUT, O_SKEW, O_JUNIT,
	       O_JSON, O_HTML, O_TAP, O_QUIET, O_HELP, O_VERSION, O_CLASS, O_BUILD, O_OUT, O_JOBS, O_SANDBOX,
	       O_UNSANDBOXED, O_PROCS, O_MEMORY, O_CPU, O_TIME, O_BENCH };
	static const struct option opts[] = {
		{"server-cmd", required_argument, NULL, O_SERVER}, {"target", required_argument, NULL, O_TARGET},
		{"raw", no_argument, NULL, O_RAW}, {"max-line", required_argument, NULL, O_MAXLINE},
		{"cases", required_argument, NULL, O_CASES}, {"list", no_argument, NULL, O_LIST},
		{"timeout", required_argument, NULL, O_TIMEOUT}, {"skew", required_argument, NULL, O_SKEW},
		{"junit", required_argument, NULL, O_JUNIT}, {"json", required_argument, NULL, O_JSON},
		{"html", required_argument, NULL, O_HTML}, {"tap", no_argument, NULL, O_TAP},
		{"quiet", no_argument, NULL, O_QUIET}, {"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION}, {"class", required_argument, NULL, O_CLASS},
		{"build", required_argument, NULL, O_BUILD}, {"out", required_argument, NULL, O_OUT},
		{"jobs", required_argument, NULL, O_JOBS}, {"sandbox", no_argument, NULL, O_SANDBOX},
		{"unsandboxed", no_argument, NULL, O_UNSANDBOXED}, {"max-procs", required_argument, NULL, O_PROCS},
		{"max-memory", required_argument, NULL, O_MEMORY}, {"max-cpu", required_argument, NULL, O_CPU},
		{"max-time", required_argument, NULL, O_TIME}, {"bench", required_argument, NULL, O_BENCH},
		{NULL, 0, NULL, 0},
	};
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		double v;
		switch (ch) {
		case O_SERVER: o->server_cmd = optarg; break;
		case O_TARGET: a->target = optarg; break;
		case O_RAW: o->raw = true; break;
		case O_MAXLINE:
			if (!el_cli_parse_num(optarg, 1, 1048576, &v) || v != (long)v)
				return usage_error("bad --max-line '%s' (1..1048576)", optarg);
			o->max_line = (long)v;
			break;
		case O_CASES: a->cases = optarg; break;
		case O_LIST: a->list = true; break;
		case O_TIMEOUT:
			if (!el_cli_parse_num(optarg, 0.01, 3600, &o->timeout_s))
				return usage_error("bad --timeout '%s' (seconds)", optarg);
			break;
		case O_SKEW:
			if (!el_cli_parse_num(optarg, 0, 1e6, &o->skew_s))
				return usage_error("bad --skew '%s' (seconds)", optarg);
			break;
		case O_JUNIT: a->junit = optarg; break;
		case O_JSON: a->json = optarg; break;
		case O_HTML: a->html = optarg; break;
		case O_TAP: a->tap = true; break;
		case O_QUIET: a->quiet = true; break;
		case O_CLASS: a->class_dir = optarg; break;
		case O_BUILD: a->build = optarg; break;
		case O_OUT: a->out = optarg; break;
		case O_SANDBOX: a->sandbox = true; break;
		case O_UNSANDBOXED: a->unsandboxed = true; break;
		case O_JOBS:
			if (!el_cli_parse_long(optarg, 1, 256, &a->jobs))
				return usage_error("bad --jobs '%s' (1..256)", optarg);
			break;
		case O_PROCS:
			if (!el_cli_parse_long(optarg, 8, 1000000, &a->lim.pids))
				return usage_error("bad --max-procs '%s' (8..1000000)", optarg);
			break;
		case O_MEMORY:
			if (!el_cli_parse_long(optarg, 16, 1 << 20, &a->lim.memory_mib))
				return usage_error("bad --max-memory '%s' (MiB, 16..1048576)", optarg);
			break;
		case O_CPU:
			if (!el_cli_parse_num(optarg, 0.1, 86400, &a->lim.cpu_s))
				return usage_error("bad --max-cpu '%s' (seconds, 0.1..86400)", optarg);
			break;
		case O_TIME:
			if (!el_cli_parse_num(optarg, 1, 86400, &a->lim.wall_s))
				return usage_error("bad --max-time '%s' (seconds, 1..86400)", optarg);
			break;
		case O_BENCH:
			if (!el_cli_parse_long(optarg, 1, 1000, &a->bench))
				return usage_error("bad --bench '%s' (clients, 1..1000)", optarg);
			break;
		case O_HELP: fputs(usage_text, stdout); return 0;
		case O_VERSION: el_version_print("echolab-conform"); return 0;
		case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (a->class_dir && (a->target || a->sandbox))
		return usage_error("--class grades by --server-cmd, each submission in a sandbox: no --target or --sandbox");
	if (a->unsandboxed && !a->class_dir)
		return usage_error("--unsandboxed is for --class (a single --server-cmd runs unsandboxed without --sandbox)");
	if (a->sandbox && a->unsandboxed)
		return usage_error("--sandbox or --unsandboxed, not both");
	if (a->build && !a->class_dir && !a->sandbox)
		return usage_error("--build is for --class and --sandbox");
	if (a->bench && !a->class_dir)
		return usage_error("--bench is for --class (one server's figures: echolab-bench --server NAME=CMD)");
	if (a->out && !a->class_dir)
		return usage_error("--out is for --class (one server's reports: --junit, --json, --html)");
	if (a->class_dir && (a->junit || a->json || a->html || a->tap))
		return usage_error("--class writes its reports into --out: no --junit, --json, --html or --tap");
	if (a->sandbox && !o->server_cmd)
		return usage_error("--sandbox runs the server it starts: give --server-cmd");
	return -1;
}

/* The server: by command (--server-cmd, its placeholders checked) or
 * already running (--target HOST:PORT into o). Returns 0 or 2. */
static int check_server(struct el_conf_opts *o, const char *target)
{
	if (!o->server_cmd == !target)
		return usage_error("give one of --server-cmd CMD and --target HOST:PORT");
	if (o->server_cmd && !el_sup_has(o->server_cmd, "port"))
		return usage_error("--server-cmd needs {port} where the server's port goes");
	if (o->server_cmd) {
		char tmp[4096], bad[64] = "";
		struct el_sup_settings s = {0};
		if (el_sup_expand(o->server_cmd, &s, tmp, sizeof(tmp), bad, sizeof(bad)) < 0)
			return usage_error(bad[0] ? "unknown placeholder %s in --server-cmd" : "--server-cmd too long%s",
					   bad);
		return 0;
	}
	if (!el_cli_parse_hostport(target, o->host, sizeof(o->host), &o->port))
		return usage_error("bad --target '%s' (HOST:PORT; an IPv6 address in brackets)", target);
	return 0;
}

struct print_ctx {
	const struct el_conf_opts *o;
	const struct args *a;
};

static void print_one(const struct el_conf_result *r, size_t i, void *arg)
{
	const struct print_ctx *pc = arg;
	if (pc->a->tap)
		print_tap(stdout, pc->o, r, i + 1);
	else
		el_conf_print_line(stdout, pc->o, r, pc->a->quiet);
}

/* Runs the selected cases, a line (or TAP) each; verdicts counted. A
 * server that cannot be reached is one line (to stderr, or TAP's "Bail
 * out!") and one failure, its reason in error, and no case runs.
 * Returns the results run. */
static size_t run_cases(struct el_conf_opts *o, const struct args *a, struct el_conf_result *res, int *verdicts,
			char *error, size_t errlen)
{
	struct el_conf_runner runner;
	el_conf_runner_init(&runner, o);
	bool reached = el_conf_runner_check(&runner, a->cases, error, errlen) == 0;
	if (!reached)
		verdicts[EL_CONF_FAIL]++;
	else
		error[0] = 0;
	if (a->tap) {
		size_t nsel = el_conf_nselected(a->cases);
		printf("TAP version 13\n");
		if (reached)
			printf("1..%zu\n", nsel);
		else
			printf("Bail out! %s\n", error);
	} else if (!reached) {
		fprintf(stderr, "echolab-conform: %s\n", error);
	}
	struct print_ctx pc = {o, a};
	size_t n = reached ? el_conf_run_selected(&runner, a->cases, res, print_one, &pc) : 0;
	for (size_t i = 0; i < n; i++)
		verdicts[res[i].verdict]++;
	char why[256];
	if (el_conf_runner_finish(&runner, why, sizeof(why)) < 0) {
		fprintf(stderr, "echolab-conform: %s\n", why);
		verdicts[EL_CONF_FAIL]++;
	}
	return n;
}

/* --sandbox: this folder copied into a sandbox, built there with --build
 * if given, and this thread in its network namespace, so that the cases'
 * clients are. Returns 0, or 1 with one line on stderr. */
static int open_sandbox(struct el_conf_opts *o, const struct args *a, struct el_sub *sub)
{
	char why[512];
	if (el_sbx_check(why, sizeof(why)) < 0) {
		fprintf(stderr, "echolab-conform: --sandbox: %s\n", why);
		return 1;
	}
	if (el_sub_open(sub, ".", "single", true, &a->lim, why, sizeof(why)) < 0) {
		fprintf(stderr, "echolab-conform: --sandbox: %s\n", why);
		return 1;
	}
	if (a->build) {
		struct el_sbx_result r;
		int rc = el_sub_run(sub, a->build, &a->lim, 2, &r);
		if (rc < 0 || r.end != EL_SBX_EXITED || r.code != 0) {
			fprintf(stderr, "echolab-conform: --build '%s' in the sandbox: %s %d\n", a->build,
				rc < 0 ? "could not start:" : el_sbx_end_name(r.end), rc < 0 ? rc : r.code);
			el_sub_close(sub);
			return 1;
		}
	}
	if (el_sbx_enter_net(sub->sbx) < 0) {
		fprintf(stderr, "echolab-conform: --sandbox: entering its network: %s\n", strerror(errno));
		el_sub_close(sub);
		return 1;
	}
	o->sbx = sub->sbx;
	return 0;
}

/* --junit, --json, --html. Returns 1 when one could not be written. */
static int write_reports(const struct args *a, const struct el_conf_report *rep)
{
	int rc = 0;
	const struct {
		const char *path;
		int (*write)(FILE *, const struct el_conf_report *);
	} outs[] = {{a->junit, el_conf_write_junit}, {a->json, el_conf_write_json}, {a->html, el_conf_write_html}};
	for (size_t i = 0; i < sizeof(outs) / sizeof(outs[0]); i++) {
		if (!outs[i].path)
			continue;
		FILE *f = open_out(outs[i].path);
		if (!f || outs[i].write(f, rep) < 0 || fclose(f) != 0) {
			fprintf(stderr, "echolab-conform: writing %s failed\n", outs[i].path);
			rc = 1;
		}
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct el_conf_opts o = {.max_line = 8192, .timeout_s = 5, .skew_s = 2, .slow = 1, .stop = &stop};
	snprintf(o.host, sizeof(o.host), "127.0.0.1");
	o.self = argv[0];
	struct args a = {.jobs = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1,
			 .lim = {.pids = 1024, .memory_mib = 512, .cpu_s = 120, .wall_s = 300}};
	int rc = parse_args(argc, argv, &o, &a);
	if (rc >= 0)
		return rc;
	if (a.list) {
		for (size_t i = 0; i < el_conf_ncases; i++)
			if (el_conf_selected(a.cases, el_conf_cases[i].id))
				printf("%-26s %s\n", el_conf_cases[i].id, el_conf_cases[i].title);
		return 0;
	}
	if ((rc = check_server(&o, a.target)) != 0)
		return rc;
	size_t nsel = el_conf_nselected(a.cases);
	if (nsel == 0)
		return usage_error("no case matches --cases '%s' (see --list)", a.cases);
	const char *slow = getenv("ECHOLAB_SLOW_FACTOR");
	if (slow && atoi(slow) > 1)
		o.slow = atoi(slow);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The command line as a shell reads it back: the reports show it to
	 * be pasted. */
	char command[8192];
	el_cli_shell_line(command, sizeof(command), argc, argv);
	char started[EL_TIME_LEN + 1];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	el_time_format(&now, started);
	struct el_conf_result *res = calloc(nsel, sizeof(*res));
	if (!res) {
		fputs("echolab-conform: out of memory\n", stderr);
		return 1;
	}
	if (a.class_dir) {
		free(res);
		struct el_class_opts co = {.conf = o, .cases = a.cases, .dir = a.class_dir,
					   .out = a.out ? a.out : "class-report", .build = a.build ? a.build : "make",
					   .lim = a.lim, .jobs = (int)a.jobs, .unsandboxed = a.unsandboxed,
					   .command = command, .stop = &stop, .bench_clients = a.bench};
		static char server_bin[PATH_MAX + 32], monitor_bin[PATH_MAX + 32];
		if (a.bench && find_bench_programs(server_bin, monitor_bin, sizeof(server_bin), &co) != 0)
			return 1;
		return el_class_grade(&co);
	}
	int verdicts[4] = {0};
	char error[768];
	struct el_sub sub = {0};
	if (a.sandbox && (rc = open_sandbox(&o, &a, &sub)) != 0) {
		free(res);
		return rc;
	}
	size_t n = run_cases(&o, &a, res, verdicts, error, sizeof(error));
	if (a.sandbox) {
		el_sbx_leave_net(sub.sbx);
		el_sub_close(&sub);
	}
	struct el_conf_report rep = {.o = &o, .res = res, .n = n, .command = command, .started_at = started,
				     .error = error[0] ? error : NULL};
	rc = write_reports(&a, &rep);
	/* info counts as passed: a measured behaviour the protocol allows. */
	printf("%s%d passed, %d failed, %d skipped%s\n", a.tap ? "# " : "", verdicts[EL_CONF_OK] + verdicts[EL_CONF_INFO],
	       verdicts[EL_CONF_FAIL], verdicts[EL_CONF_SKIP], stop ? " (interrupted)" : "");
	for (size_t i = 0; i < n; i++)
		free(res[i].transcript);
	free(res);
	if (stop)
		return 130;
	return verdicts[EL_CONF_FAIL] || rc ? 1 : 0;
}
