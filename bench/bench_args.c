/* echolab-bench's command line (bench_args.h): the options every cell
 * takes and their parser, the modes' options from their table (mode.h),
 * and --help, made of both. */
#include "bench_args.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "version.h"

#define usage_error(...) el_cli_usage("echolab-bench", __VA_ARGS__)

/* The cells' options' ids (cli.h: an enum from EL_CLI_OPT_FIRST), in
 * the order of cell_options[]; the modes' options take ids from
 * O_MODE_FIRST, in the order of mode_ids[]. */
enum {
	O_MODELS = EL_CLI_OPT_FIRST, O_CLIENTS, O_DURATION, O_WARMUP, O_REPEATS, O_INTERVAL, O_SIZE, O_THREADS,
	O_SPAWN, O_OUT, O_SERVER, O_HELP, O_VERSION, O_SERVER_BIN, O_RAW, O_CPUS, O_TARGET, O_TARGET_MONITOR, O_LAN,
	O_DELAY, O_WORKLOAD, O_PROBE, O_NO_PIN, O_PROCESSES, O_MODE_FIRST,
};

/* --help: the modes' synopses (from their rows), then this, then the
 * modes' options, then usage_tail. */
static const char usage_cells[] =
	"\n"
	"Runs the lab's experiment (a course's echo servers under 30-500 clients)\n"
	"for every server model: for each model and\n"
	"client count, starts echolab-server, samples its process tree, and runs\n"
	"the load (closed loop) for --duration after --warmup. Writes under\n"
	"DIR/<timestamp>/ (and a DIR/latest link): summary.csv, report.md,\n"
	"report.html, the plots (gnuplot), and every raw file.\n"
	"\n"
	"  --models LIST     comma-separated (default: every model of --list-models)\n"
	"  --clients LIST    client counts (default 30,100,300,500)\n"
	"  --duration S      measured seconds per cell (default 2; sweep 3, tools 5,\n"
	"                    --quick 1, the soak's whole run 600)\n"
	"  --warmup S        seconds before each measurement (default 1; --quick\n"
	"                    0.5, the sweep 1, the soak and --tools 2)\n"
	"  --repeats R       runs of every cell, interleaved across the models, each\n"
	"                    with its own server; their spread reported, a cell\n"
	"                    whose repeats lie over 10% from their median marked\n"
	"                    UNSTABLE (default 3; --quick and other modes 1)\n"
	"  --interval S      monitor sampling interval (default 0.5)\n"
	"  --size BYTES      message size (default 64)\n"
	"  --threads T       load event loops (default: one per CPU)\n"
	"  --spawn           one load process per client, as the lab's script\n"
	"  --processes P     the load's connections over P processes, an event loop\n"
	"                    each, figures merged exactly (past one process's fd\n"
	"                    limit: echolab-load's --processes)\n"
	"  --target H:P      measure a server already running at HOST:PORT (another\n"
	"                    machine's): client-side figures only, reported as\n"
	"                    'target'; no server is started or monitored\n"
	"  --target-monitor CSV\n"
	"                    the target's CPU and memory from echolab-monitor --epoch\n"
	"                    run beside it (e.g. over ssh into CSV): each cell's\n"
	"                    rows by wall-clock time (the clocks kept in step)\n"
	"  --workload W      closed (default: each client one connection for the\n"
	"                    cell) or session:K (each client connects, sends K\n"
	"                    messages, closes, connects again: what a connection\n"
	"                    costs each model; the iterative one serves them too)\n"
	"  --probe R         one more connection in every cell, sending R msgs/s on\n"
	"                    its own fixed schedule through the window: the latency\n"
	"                    under load without the load's own queueing, in\n"
	"                    summary.csv (probe_*) and a plot of its own\n"
	"  --lan             two hosts on one machine: the server in one network\n"
	"                    namespace, the load in another, joined by a veth pair\n"
	"                    (10.77.0.1 and .2; needs root). The report says so\n"
	"  --delay MS        with --lan, one-way delay from load to server (netem,\n"
	"                    or an NFQUEUE consumer where the kernel has no netem)\n"
	"  --cpus S:L        pin the server (its whole tree) to CPU list S and the\n"
	"                    load to L (e.g. 0:1, 0-1:2-3); default: both share\n"
	"                    every CPU, the load's event loop i pinned to CPU i\n"
	"                    (paired). The report says which\n"
	"  --no-pin          the load's event loops where the scheduler puts them\n"
	"                    (the placement before paired; to compare the two)\n"
	"  --raw             the servers echo bytes: echolab's models run with\n"
	"                    --raw, and a reply must be the message itself\n"
	"  --out DIR         results directory (default results)\n"
	"  --server-bin PATH echolab-server (default: beside this program)\n"
	"  --server NAME=CMD a server started by CMD (as echolab-conform starts it:\n"
	"                    directly when plain, else by /bin/sh; placeholders\n"
	"                    {port}, {backlog}, {bind}, {max_line}, {max_conns},\n"
	"                    {idle_timeout}; {port} required, and {backlog} for\n"
	"                    the backlog experiment), its whole process tree\n"
	"                    monitored, reported as NAME beside the models; with\n"
	"                    --server and no --models only those servers run\n"
	"                    (repeatable; the experiment, --quick and the backlog\n"
	"                    experiment)\n";

static const char usage_tail[] =
	"  --help            this text\n"
	"  --version         the version, and the git checkout it was built from\n"
	"\n"
	"Ctrl-C ends the running cell and writes the report of what was measured.\n"
	"Exit 0; 1 when a cell could not run (the soak: when a model failed); 2 on\n"
	"bad usage; 130 when interrupted.\n";

/* A CPU list (0, 0-1, 0,2-3) of CPUs this machine has, into set. */
static int parse_cpu_list(const char *s, cpu_set_t *set)
{
	CPU_ZERO(set);
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	char buf[128];
	if (!*s || strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		long lo = strtol(t, &end, 10), hi = lo;
		if (end == t)
			return -1;
		if (*end == '-') {
			char *e2;
			hi = strtol(end + 1, &e2, 10);
			if (e2 == end + 1)
				return -1;
			end = e2;
		}
		if (*end || lo < 0 || hi < lo || hi >= ncpu || hi >= CPU_SETSIZE)
			return -1;
		for (long c = lo; c <= hi; c++)
			CPU_SET((int)c, set);
	}
	return CPU_COUNT(set) > 0 ? 0 : -1;
}

/* --cpus SERVER:LOAD. */
static int parse_cpus(const char *s, struct bench_cfg *cfg)
{
	const char *colon = strchr(s, ':');
	char server[128];
	if (!colon || (size_t)(colon - s) >= sizeof(server))
		return -1;
	snprintf(server, sizeof(server), "%.*s", (int)(colon - s), s);
	if (parse_cpu_list(server, &cfg->server_cpus) < 0 || parse_cpu_list(colon + 1, &cfg->load_cpus) < 0)
		return -1;
	cpu_set_t both;
	CPU_AND(&both, &cfg->server_cpus, &cfg->load_cpus);
	snprintf(cfg->placement, sizeof(cfg->placement), "server on CPUs %s, load on CPUs %s%s", server,
		 colon + 1, CPU_COUNT(&both) ? " (overlapping)" : "");
	cfg->pinned = true;
	return 0;
}

/* The parsers of the option groups: each returns 0 when it took the
 * option, 1 when the option is another group's, 2 after a usage error. */

/* --target HOST:PORT (an IPv6 address in brackets). */
static int parse_target(const char *arg, struct bench_cfg *cfg)
{
	if (!el_cli_parse_hostport(arg, cfg->target_text, sizeof(cfg->target_text), &cfg->target_port))
		return usage_error("bad --target '%s' (HOST:PORT; an IPv6 address in brackets)", arg);
	cfg->target_host = cfg->target_text;
	return 0;
}

/* --server NAME=CMD, into the servers of a. */
static int parse_server(const char *arg, struct bench_args *a)
{
	const char *eq = strchr(arg, '=');
	if (!eq)
		return usage_error("--server takes NAME=CMD (the echolab-server binary is --server-bin PATH): '%s'",
				   arg);
	if (eq == arg || (size_t)(eq - arg) >= sizeof(a->servers[0].name) || !eq[1] ||
	    strlen(eq + 1) >= sizeof(a->servers[0].cmd) || a->nservers == BENCH_MAX_SERVERS)
		return usage_error("bad --server '%s' (NAME=CMD, NAME up to 31 characters, at most %d servers)", arg,
				   BENCH_MAX_SERVERS);
	if (strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != (size_t)(eq - arg))
		return usage_error("--server %.*s: NAME is letters, digits, '_', '.' and '-' (it names files)",
				   (int)(eq - arg), arg);
	struct bench_server *sv = &a->servers[a->nservers++];
	snprintf(sv->name, sizeof(sv->name), "%.*s", (int)(eq - arg), arg);
	snprintf(sv->cmd, sizeof(sv->cmd), "%s", eq + 1);
	if (!el_sup_has(sv->cmd, "port"))
		return usage_error("--server %s: CMD needs {port}", sv->name);
	struct el_sup_settings probe = {.port = 1};
	char expanded[2048], bad[64];
	if (el_sup_expand(sv->cmd, &probe, expanded, sizeof(expanded), bad, sizeof(bad)) == -EINVAL)
		return usage_error("--server %s: bad placeholder %s", sv->name, bad);
	return 0;
}

/* What every cell runs: its time, size, load and placement. */
static int parse_cell_option(int ch, const char *arg, struct bench_cfg *cfg, struct bench_args *a)
{
	double v;
	switch (ch) {
	case O_MODELS: a->models = arg; return 0;
	case O_CLIENTS: a->clients = arg; return 0;
	case O_DURATION:
		if (!el_cli_parse_num(arg, 0.1, 86400, &cfg->duration_s))
			return usage_error("bad --duration '%s'", arg);
		a->duration_set = true;
		return 0;
	case O_WARMUP:
		a->warmup_set = true;
		return el_cli_parse_num(arg, 0, 600, &cfg->warmup_s) ? 0 : usage_error("bad --warmup '%s'", arg);
	case O_REPEATS:
		if (!el_cli_parse_num(arg, 1, BENCH_MAX_REPEATS, &v) || v != floor(v))
			return usage_error("bad --repeats '%s' (1 to %d)", arg, BENCH_MAX_REPEATS);
		cfg->repeats = (int)v;
		a->repeats_set = true;
		return 0;
	case O_INTERVAL:
		return el_cli_parse_num(arg, 0.05, 60, &cfg->interval_s) ? 0 : usage_error("bad --interval '%s'", arg);
	case O_SIZE:
		if (!el_cli_parse_num(arg, 1, 65536, &v) || v != floor(v))
			return usage_error("bad --size '%s' (1 to 65536)", arg);
		cfg->msg_size = (size_t)v;
		return 0;
	case O_THREADS:
		if (!el_cli_parse_num(arg, 1, 256, &v) || v != floor(v))
			return usage_error("bad --threads '%s'", arg);
		cfg->threads = (int)v;
		return 0;
	case O_SPAWN: cfg->spawn = true; return 0;
	case O_PROCESSES:
		if (!el_cli_parse_num(arg, 1, 1024, &v) || v != floor(v))
			return usage_error("bad --processes '%s' (1 to 1024)", arg);
		cfg->processes = (int)v;
		return 0;
	case O_NO_PIN: cfg->pair = false; return 0;
	case O_RAW: cfg->raw = true; return 0;
	case O_WORKLOAD:
		if (strcmp(arg, "closed") == 0) {
			cfg->session = 0;
			return 0;
		}
		if (strncmp(arg, "session:", 8) != 0 || !el_cli_parse_num(arg + 8, 1, 1e9, &v) || v != floor(v))
			return usage_error("bad --workload '%s' (closed, or session:K with K messages a connection)",
					   arg);
		cfg->session = (long)v;
		return 0;
	case O_PROBE:
		return el_cli_parse_num(arg, 0.1, 1e5, &cfg->probe_rate) ? 0
			: usage_error("bad --probe '%s' (messages/s)", arg);
	case O_TARGET: return parse_target(arg, cfg);
	case O_TARGET_MONITOR: cfg->target_monitor = arg; return 0;
	case O_CPUS:
		if (parse_cpus(arg, cfg) < 0)
			return usage_error("bad --cpus '%s' (SERVER:LOAD, each a CPU list such as 0, 0-1 or 0,2, of "
					   "this machine's CPUs)", arg);
		return 0;
	case O_LAN: a->lan = true; return 0;
	case O_DELAY:
		if (!el_cli_parse_num(arg, 0, 10000, &a->delay_ms) || a->delay_ms != floor(a->delay_ms))
			return usage_error("bad --delay '%s' (whole milliseconds, 0 to 10000)", arg);
		return 0;
	case O_OUT: a->out = arg; return 0;
	case O_SERVER_BIN: cfg->server = arg; return 0;
	case O_SERVER: return parse_server(arg, a);
	default: return 1;
	}
}

/* The cells' options, --help and --version (getopt_long's table); the
 * modes' follow them in options[]. */
static const struct option cell_options[] = {
	{"models", required_argument, NULL, O_MODELS}, {"clients", required_argument, NULL, O_CLIENTS},
	{"duration", required_argument, NULL, O_DURATION}, {"warmup", required_argument, NULL, O_WARMUP},
	{"repeats", required_argument, NULL, O_REPEATS}, {"interval", required_argument, NULL, O_INTERVAL},
	{"size", required_argument, NULL, O_SIZE}, {"threads", required_argument, NULL, O_THREADS},
	{"spawn", no_argument, NULL, O_SPAWN}, {"out", required_argument, NULL, O_OUT},
	{"server", required_argument, NULL, O_SERVER}, {"help", no_argument, NULL, O_HELP},
	{"version", no_argument, NULL, O_VERSION}, {"server-bin", required_argument, NULL, O_SERVER_BIN},
	{"raw", no_argument, NULL, O_RAW}, {"cpus", required_argument, NULL, O_CPUS},
	{"target", required_argument, NULL, O_TARGET}, {"target-monitor", required_argument, NULL, O_TARGET_MONITOR},
	{"lan", no_argument, NULL, O_LAN}, {"delay", required_argument, NULL, O_DELAY},
	{"workload", required_argument, NULL, O_WORKLOAD}, {"probe", required_argument, NULL, O_PROBE},
	{"no-pin", no_argument, NULL, O_NO_PIN}, {"processes", required_argument, NULL, O_PROCESSES},
};
#define NCELL_OPTIONS (sizeof(cell_options) / sizeof(cell_options[0]))
#define MAX_MODE_OPTIONS 64

/* The modes' options, id O_MODE_FIRST + i: the mode's own option, or
 * (opt NULL) the option that selects it. */
static struct {
	const struct bench_mode *mode;
	const struct bench_mode_option *opt;
} mode_ids[MAX_MODE_OPTIONS];

/* echolab-bench's options: cell_options[], then each mode's from the
 * table (build_options). */
static struct option options[NCELL_OPTIONS + MAX_MODE_OPTIONS + 1];

static void add_mode_option(size_t *n, const struct bench_mode *m, const struct bench_mode_option *o)
{
	if (*n == MAX_MODE_OPTIONS) {
		fprintf(stderr, "echolab-bench: more than %d options of modes (MAX_MODE_OPTIONS)\n", MAX_MODE_OPTIONS);
		abort();
	}
	mode_ids[*n].mode = m;
	mode_ids[*n].opt = o;
	options[NCELL_OPTIONS + *n] = (struct option){o ? o->name : m->name, o && o->arg ? required_argument : no_argument,
						      NULL, O_MODE_FIRST + (int)*n};
	(*n)++;
}

/* A row that would break --help or shadow another option: a mistake of
 * whoever wrote it, said before anything runs. */
static void check_row(size_t n, const char *name, const char *help)
{
	const char *why = !help ? "has no --help text" : NULL;
	for (size_t i = 0; !why && i < NCELL_OPTIONS + n; i++)
		if (strcmp(options[i].name, name) == 0)
			why = "is another option's name too";
	if (why) {
		fprintf(stderr, "echolab-bench: the mode table's option --%s %s (bench/modes.def)\n", name, why);
		abort();
	}
}

static void build_options(void)
{
	memcpy(options, cell_options, sizeof(cell_options));
	size_t n = 0;
	for (size_t i = 0; i < bench_nmodes; i++) {
		const struct bench_mode *m = bench_modes[i];
		if (m->name) {
			check_row(n, m->name, m->help);
			add_mode_option(&n, m, NULL);
		}
		for (const struct bench_mode_option *o = m->options; o && o->name; o++) {
			check_row(n, o->name, o->help);
			add_mode_option(&n, m, o);
		}
	}
	options[NCELL_OPTIONS + n] = (struct option){0};
}

/* One option's --help entry: "  --NAME ARG" and its text from column 20
 * (on a line of its own when the name is longer), each further line of
 * text indented to it. */
static void print_option_help(FILE *f, const char *name, const char *arg, const char *text)
{
	int w = fprintf(f, "  --%s%s%s", name, arg ? " " : "", arg ? arg : "");
	if (w > 18)
		fprintf(f, "\n%20s", "");
	else
		fprintf(f, "%*s", 20 - w, "");
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "\n");
		fprintf(f, "%.*s\n", (int)len, p);
		p += len;
		if (*p == '\n' && *++p)
			fprintf(f, "%20s", "");
	}
}

/* --help: each mode's synopsis, what every cell takes, each mode's
 * options, --help and --version. */
static void print_usage(FILE *f)
{
	bool first = true;
	for (size_t i = 0; i < bench_nmodes; i++) {
		const char *p = bench_modes[i]->synopsis;
		if (!p)
			continue;
		fputs(first ? "usage: echolab-bench " : "       echolab-bench ", f);
		first = false;
		while (*p) {
			size_t len = strcspn(p, "\n");
			fprintf(f, "%.*s\n", (int)len, p);
			p += len;
			if (*p == '\n' && *++p)
				fprintf(f, "%21s", "");
		}
	}
	fputs(usage_cells, f);
	for (size_t i = 0; i < bench_nmodes; i++) {
		const struct bench_mode *m = bench_modes[i];
		if (m->name)
			print_option_help(f, m->name, m->arg, m->help);
		for (const struct bench_mode_option *o = m->options; o && o->name; o++)
			print_option_help(f, o->name, o->arg, o->help);
	}
	fputs(usage_tail, f);
}

/* Whether word is one of echolab-bench's options, as getopt_long would
 * take it ("--out", "--out=DIR", an abbreviation such as "--dur"; "--"). */
static bool is_bench_option(const char *word)
{
	if (strncmp(word, "--", 2) != 0)
		return false;
	size_t len = strcspn(word + 2, "=");
	for (const struct option *o = options; o->name; o++)
		if (strncmp(o->name, word + 2, len) == 0)
			return true;
	return false;
}

/* --server NAME=CMD without {port} where the words after it (up to the
 * next option of ours) have it: the shell split an unquoted CMD at its
 * spaces, and "CMD needs {port}" would send a student looking for a
 * {port} they did write. Says so with the quoting, and returns 2; returns
 * 0 when the words do not look like that. */
static int server_cmd_split(const char *arg, int argc, char **argv, int next)
{
	int end = next, port_word = -1;
	for (; end < argc && !is_bench_option(argv[end]); end++)
		if (port_word < 0 && el_sup_has(argv[end], "port"))
			port_word = end;
	if (port_word < 0 || !strchr(arg, '='))
		return 0;
	/* The words the shell split, joined again, as one shell word. */
	char joined[1024], quoted[3200] = "";
	size_t n = 0;
	for (int i = next - 1; i < end && n < sizeof(joined); i++)
		n += (size_t)snprintf(joined + n, sizeof(joined) - n, "%s%s", i >= next ? " " : "",
				      i == next - 1 ? arg : argv[i]);
	el_cli_shell_word(quoted, sizeof(quoted), joined);
	return usage_error("--server %.*s: the shell split CMD at its spaces ('%s' came as an argument of its "
			   "own); quote it: --server %s",
			   (int)strcspn(arg, "="), arg, argv[port_word], quoted);
}

/* The modes' options given (by id) for a mode not chosen, and two modes
 * chosen: usage errors. Returns 0 or 2. */
static int check_modes(const struct bench_args *a, const bool *given, int nchosen)
{
	char title[64];
	if (nchosen > 1) {
		char names[256];
		size_t n = 0;
		for (size_t i = 0; i < bench_nmodes; i++)
			if (bench_modes[i]->name && n < sizeof(names))
				n += (size_t)snprintf(names + n, sizeof(names) - n, "%s--%s", n ? ", " : "",
						      bench_modes[i]->name);
		return usage_error("%s exclude each other", names);
	}
	for (size_t i = 0; i < MAX_MODE_OPTIONS; i++)
		if (given[i] && mode_ids[i].mode != a->mode)
			return usage_error("--%s goes with %s%s", mode_ids[i].opt->name,
					   bench_mode_title(mode_ids[i].mode, title, sizeof(title)),
					   mode_ids[i].opt->hint ? mode_ids[i].opt->hint : "");
	return 0;
}

int bench_parse_args(int argc, char **argv, struct bench_cfg *cfg, struct bench_args *a)
{
	/* Quoted as a shell reads it, so that the report's command pastes
	 * back ("--server mine=/tmp/s/server {port}" had lost its quotes). */
	el_cli_shell_line(cfg->command, sizeof(cfg->command), argc, argv);
	build_options();
	a->mode = bench_modes[0];
	bool given[MAX_MODE_OPTIONS] = {false};
	int nchosen = 0;
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (ch == O_HELP) {
			print_usage(stdout);
			return 0;
		}
		if (ch == O_VERSION) {
			el_version_print("echolab-bench");
			return 0;
		}
		int rc;
		if (ch >= O_MODE_FIRST && ch < O_MODE_FIRST + MAX_MODE_OPTIONS) {
			const struct bench_mode *m = mode_ids[ch - O_MODE_FIRST].mode;
			const struct bench_mode_option *o = mode_ids[ch - O_MODE_FIRST].opt;
			if (!o) {
				nchosen += a->mode != m;
				a->mode = m;
				continue;
			}
			given[ch - O_MODE_FIRST] = true;
			rc = o->parse(o->arg ? optarg : NULL);
		} else {
			rc = ch == O_SERVER && !el_sup_has(optarg, "port") ? server_cmd_split(optarg, argc, argv, optind) : 0;
			if (rc == 0)
				rc = parse_cell_option(ch, optarg, cfg, a);
			if (rc == 1)
				return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		}
		if (rc)
			return rc;
	}
	a->operands = argv + optind;
	a->noperands = argc - optind;
	int rc = check_modes(a, given, nchosen);
	return rc ? rc : -1;
}
