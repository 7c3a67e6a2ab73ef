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

#include "cli.h"
#include "conform.h"
#include "reply.h"
#include "version.h"

#define usage_error(...) el_cli_usage("echolab-conform", __VA_ARGS__)

static const char usage_text[] =
	"usage: echolab-conform (--server-cmd CMD | --target HOST:PORT) [--raw]\n"
	"                       [--max-line N] [--cases PATTERNS] [--list] [--timeout S]\n"
	"                       [--skew S] [--junit FILE] [--json FILE] [--html FILE]\n"
	"                       [--tap] [--quiet]\n"
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
	"  --help             this text\n"
	"  --version          the version, and the git checkout it was built from\n"
	"\n"
	"The last line is \"N passed, N failed, N skipped\". A server that cannot\n"
	"be reached (it does not start, or nothing accepts at the target) is one\n"
	"line naming why, before any case, and counts as one failure. Exit 0 when\n"
	"no case failed, 1 when one did, 2 on bad usage. Ctrl-C stops after the\n"
	"running case.\n";

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

static void print_line(FILE *out, const struct el_conf_opts *o, const struct el_conf_result *r, bool quiet)
{
	if (quiet && r->verdict != EL_CONF_FAIL)
		return;
	fprintf(out, "%-4s %s  %s", el_conf_verdict_name(r->verdict), r->c->id, r->c->title);
	if (r->reason[0])
		fprintf(out, ": %s", r->reason);
	fputc('\n', out);
	if (r->verdict == EL_CONF_FAIL) {
		fprintf(out, "     section: %s\n", r->c->section);
		for (const char *p = r->transcript; p && *p;) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			fprintf(out, "     | %.*s\n", (int)len, p);
			p += len + (nl != NULL);
		}
		char replay[8192];
		el_conf_replay(o, r->c->id, replay, sizeof(replay));
		fprintf(out, "     replay: %s\n", replay);
	}
	fflush(out);
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
};

/* Parses argv into o and a. Returns -1 to go on, or the exit status (0
 * after --help or --version, 2 after a usage error). */
static int parse_args(int argc, char **argv, struct el_conf_opts *o, struct args *a)
{
	enum { O_SERVER = 256, O_TARGET, O_RAW, O_MAXLINE, O_CASES, O_LIST, O_TIMEOUT, O_SKEW, O_JUNIT,
	       O_JSON, O_HTML, O_TAP, O_QUIET, O_HELP, O_VERSION };
	static const struct option opts[] = {
		{"server-cmd", required_argument, NULL, O_SERVER}, {"target", required_argument, NULL, O_TARGET},
		{"raw", no_argument, NULL, O_RAW}, {"max-line", required_argument, NULL, O_MAXLINE},
		{"cases", required_argument, NULL, O_CASES}, {"list", no_argument, NULL, O_LIST},
		{"timeout", required_argument, NULL, O_TIMEOUT}, {"skew", required_argument, NULL, O_SKEW},
		{"junit", required_argument, NULL, O_JUNIT}, {"json", required_argument, NULL, O_JSON},
		{"html", required_argument, NULL, O_HTML}, {"tap", no_argument, NULL, O_TAP},
		{"quiet", no_argument, NULL, O_QUIET}, {"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION}, {NULL, 0, NULL, 0},
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
		case O_HELP: fputs(usage_text, stdout); return 0;
		case O_VERSION: el_version_print("echolab-conform"); return 0;
		case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
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
		size_t nsel = 0;
		for (size_t i = 0; i < el_conf_ncases; i++)
			nsel += el_conf_selected(a->cases, el_conf_cases[i].id);
		printf("TAP version 13\n");
		if (reached)
			printf("1..%zu\n", nsel);
		else
			printf("Bail out! %s\n", error);
	} else if (!reached) {
		fprintf(stderr, "echolab-conform: %s\n", error);
	}
	size_t n = 0;
	for (size_t i = 0; i < el_conf_ncases && reached && !stop; i++) {
		if (!el_conf_selected(a->cases, el_conf_cases[i].id))
			continue;
		el_conf_run(&runner, &el_conf_cases[i], &res[n]);
		verdicts[res[n].verdict]++;
		if (a->tap)
			print_tap(stdout, o, &res[n], n + 1);
		else
			print_line(stdout, o, &res[n], a->quiet);
		n++;
	}
	char why[256];
	if (el_conf_runner_finish(&runner, why, sizeof(why)) < 0) {
		fprintf(stderr, "echolab-conform: %s\n", why);
		verdicts[EL_CONF_FAIL]++;
	}
	return n;
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
	struct args a = {0};
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
	size_t nsel = 0;
	for (size_t i = 0; i < el_conf_ncases; i++)
		nsel += el_conf_selected(a.cases, el_conf_cases[i].id);
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
	int verdicts[4] = {0};
	char error[768];
	size_t n = run_cases(&o, &a, res, verdicts, error, sizeof(error));
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
