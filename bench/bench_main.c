/* echolab-bench: the lab's experiment for every server model, the open-loop
 * sweep, and the benchmark of the tools themselves. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "backlog.h"
#include "bench.h"
#include "bench_args.h"
#include "client.h"
#include "version.h"

#define usage_error(...) el_cli_usage("echolab-bench", __VA_ARGS__)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int split_counts(const char *s, long *out, int max)
{
	int n = 0;
	char *copy = strdup(s), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		long v = strtol(t, &end, 10);
		if (*end || v < 1 || v > 20000 || n == max) {
			n = -1;
			break;
		}
		out[n++] = v;
	}
	free(copy);
	return n;
}

static int split_models(const char *s, struct bench_cfg *cfg)
{
	int n = 0;
	char *copy = strdup(s), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == BENCH_MAX_MODELS || strlen(t) >= sizeof(cfg->models[0])) {
			n = -1;
			break;
		}
		snprintf(cfg->models[n++], sizeof(cfg->models[0]), "%s", t);
	}
	free(copy);
	cfg->nmodels = n;
	return n;
}

static bool is_model(const struct bench_cfg *known, const char *m)
{
	for (int i = 0; i < known->nmodels; i++)
		if (strcmp(known->models[i], m) == 0)
			return true;
	return false;
}

/* DIR/<timestamp>, DIR/<timestamp>/cells and the DIR/latest link. */
static int make_dirs(struct bench_cfg *cfg, const char *out)
{
	if (mkdir(out, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "echolab-bench: cannot create %s: %s\n", out, strerror(errno));
		return -1;
	}
	time_t now = time(NULL);
	char stamp[32];
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", gmtime(&now));
	for (int i = 0;; i++) {
		if (i == 0)
			snprintf(cfg->dir, sizeof(cfg->dir), "%s/%s", out, stamp);
		else
			snprintf(cfg->dir, sizeof(cfg->dir), "%s/%s-%d", out, stamp, i);
		if (mkdir(cfg->dir, 0755) == 0)
			break;
		if (errno != EEXIST || i > 100) {
			fprintf(stderr, "echolab-bench: cannot create %s: %s\n", cfg->dir, strerror(errno));
			return -1;
		}
	}
	char cells[600], link[600];
	snprintf(cells, sizeof(cells), "%s/cells", cfg->dir);
	mkdir(cells, 0755);
	snprintf(link, sizeof(link), "%s/latest", out);
	unlink(link);
	if (symlink(strrchr(cfg->dir, '/') + 1, link) < 0)
		fprintf(stderr, "echolab-bench: cannot link %s: %s\n", link, strerror(errno));
	return 0;
}

static int run_experiment(struct bench_cfg *cfg, struct args *a, const char *self);
static int run_sweep(struct bench_cfg *cfg, struct args *a, const char *self);
static int run_tools(struct bench_cfg *cfg, struct args *a, const char *self);
static int run_soak(struct bench_cfg *cfg, struct args *a, const char *self);
static int run_backlog(struct bench_cfg *cfg, struct args *a, const char *self);

/* Each mode's defaults, over every mode's (choose_cells), for what the
 * command line left unset. */

/* The experiment measures each cell's spread: 3 repeats. Three repeats
 * of shorter windows: a 1 s window after 0.5 s gave the same medians as
 * 2 s after 1 s (epoll, uring, threadpool, thread at 100 clients, 5
 * repeats each, within 1-4%); 2 s after 1 s keeps ./ci/bench's whole
 * grid under 10 minutes (decisions 47). */
static void experiment_defaults(struct bench_cfg *cfg, const struct args *a, const struct bench_cfg *known)
{
	if (!a->repeats_set)
		cfg->repeats = BENCH_DEFAULT_REPEATS;
	if (!a->duration_set)
		cfg->duration_s = 2;
	if (!a->warmup_set)
		cfg->warmup_s = 1;
}

/* The smoke test: the lab's two concurrent servers (a process and a
 * thread per connection: fork and thread), 10 and 30 clients, 1 s after
 * 0.5 s. */
static void quick_defaults(struct bench_cfg *cfg, const struct args *a, const struct bench_cfg *known)
{
	static const unsigned lab[] = {EL_TRAIT_PROCESS_PER_CONNECTION, EL_TRAIT_THREAD_PER_CONNECTION};
	if (!a->models) {
		cfg->nmodels = 0;
		for (size_t i = 0; i < sizeof(lab) / sizeof(lab[0]); i++) {
			const char *m = bench_model_with(known, lab[i]);
			if (m)
				snprintf(cfg->models[cfg->nmodels++], sizeof(cfg->models[0]), "%s", m);
		}
	}
	if (!a->clients) {
		cfg->counts[0] = 10;
		cfg->counts[1] = 30;
		cfg->ncounts = 2;
	}
	if (!a->duration_set)
		cfg->duration_s = 1;
	if (!a->warmup_set)
		cfg->warmup_s = 0.5;
}

/* The sweep: one client count, 100; 3 s after 1 s a rate. */
static void sweep_defaults(struct bench_cfg *cfg, const struct args *a, const struct bench_cfg *known)
{
	if (!a->clients) {
		cfg->counts[0] = 100;
		cfg->ncounts = 1;
	}
	if (!a->duration_set)
		cfg->duration_s = 3;
	if (!a->warmup_set)
		cfg->warmup_s = 1;
}

static void tools_defaults(struct bench_cfg *cfg, const struct args *a, const struct bench_cfg *known)
{
	if (!a->duration_set)
		cfg->duration_s = 5;
}

/* The soak: the lab's largest count, 500 clients (its whole duration is
 * run_soak's). */
static void soak_defaults(struct bench_cfg *cfg, const struct args *a, const struct bench_cfg *known)
{
	if (!a->clients) {
		cfg->counts[0] = 500;
		cfg->ncounts = 1;
	}
}

/* echolab-bench's modes: the option that selects one (its bool in struct
 * args; none for the experiment, the default), what it takes of the
 * experiment's options, its defaults (NULL: every mode's) and its run.
 * Usage errors name the modes that take an option from here. --compare
 * reads results and runs nothing: it is apart. A new mode is a row, its
 * run and its defaults. */
static const struct mode {
	const char *name;
	size_t selected; /* offsetof its bool in struct args; 0: the default */
	unsigned takes;
	void (*defaults)(struct bench_cfg *cfg, const struct args *a, const struct bench_cfg *known);
	int (*run)(struct bench_cfg *cfg, struct args *a, const char *self);
} modes[] = {
	{"the experiment", 0, TAKES_SERVER | TAKES_WORKLOAD | TAKES_PROBE | TAKES_LAN | TAKES_RAW, experiment_defaults,
	 run_experiment},
	{"--quick", offsetof(struct args, quick), TAKES_SERVER | TAKES_WORKLOAD | TAKES_PROBE | TAKES_LAN | TAKES_RAW,
	 quick_defaults, run_experiment},
	{"--sweep", offsetof(struct args, sweep), TAKES_WORKLOAD | TAKES_LAN, sweep_defaults, run_sweep},
	{"--tools", offsetof(struct args, tools), 0, tools_defaults, run_tools},
	{"--soak", offsetof(struct args, soak), 0, soak_defaults, run_soak},
	{"--backlog-experiment", offsetof(struct args, backlog_exp), TAKES_SERVER, NULL, run_backlog},
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

static bool mode_selected(const struct args *a, const struct mode *m)
{
	return m->selected && *(const bool *)((const char *)a + m->selected);
}

/* The mode the command line chose (the experiment when none), and in
 * *n how many it chose. */
static const struct mode *mode_of(const struct args *a, int *n)
{
	const struct mode *chosen = &modes[0];
	*n = 0;
	for (size_t i = 1; i < NMODES; i++)
		if (mode_selected(a, &modes[i])) {
			chosen = &modes[i];
			(*n)++;
		}
	return chosen;
}

/* "the experiment, --quick and --sweep": the modes that take what. */
static const char *takers(unsigned what, char *buf, size_t len)
{
	size_t n = 0, count = 0, total = 0;
	for (size_t i = 0; i < NMODES; i++)
		total += (modes[i].takes & what) != 0;
	buf[0] = 0;
	for (size_t i = 0; i < NMODES && n < len; i++) {
		if (!(modes[i].takes & what))
			continue;
		count++;
		const char *sep = count == 1 ? "" : count == total ? " and " : ", ";
		n += (size_t)snprintf(buf + n, len - n, "%s%s", sep, modes[i].name);
	}
	return buf;
}

/* The options that do not go together. Returns 0 or 2 after saying why. */
static int check_args(const struct args *a, const struct bench_cfg *cfg)
{
	int chosen;
	const struct mode *m = mode_of(a, &chosen);
	char names[160];
	if (chosen > 1) {
		size_t n = 0;
		for (size_t i = 1; i < NMODES; i++)
			n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i > 1 ? ", " : "", modes[i].name);
		return usage_error("%s exclude each other", names);
	}
	const struct {
		unsigned what;
		bool given;
		const char *option, *more;
	} taken[] = {
		{TAKES_SERVER, a->nservers > 0, "--server NAME=CMD",
		 "; the echolab-server binary is --server-bin PATH"},
		{TAKES_WORKLOAD, cfg->session > 0, "--workload", ""},
		{TAKES_PROBE, cfg->probe_rate > 0, "--probe", ""},
		{TAKES_LAN, a->lan, "--lan", " (the backlog experiment makes namespaces of its own)"},
		{TAKES_RAW, cfg->raw, "--raw", ""},
	};
	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
		if (taken[i].given && !(m->takes & taken[i].what))
			return usage_error("%s is for %s%s", taken[i].option, takers(taken[i].what, names, sizeof(names)),
					   taken[i].more);
	bool sweep = a->sweep, backlog_exp = a->backlog_exp;
	if (cfg->target_host && (m != &modes[0] || a->models || a->nservers || cfg->pinned))
		return usage_error("%s", "--target measures one running server in the experiment: no --models, "
					 "--server, --cpus, --quick or other mode with it");
	if (cfg->session > 0 && sweep)
		return usage_error("%s", "--workload session:K is the closed loop's; the sweep is open loop");
	if (cfg->spawn && cfg->processes)
		return usage_error("%s", "--spawn and --processes exclude each other (--spawn is a process per client)");
	if (cfg->target_monitor && !cfg->target_host)
		return usage_error("%s", "--target-monitor goes with --target");
	if (a->delay_ms >= 0 && !a->lan)
		return usage_error("%s", "--delay is the emulated LAN's: it needs --lan");
	if (a->lan && cfg->target_host)
		return usage_error("%s", "--lan is for the experiment against echolab's models and servers by "
					 "command, not --target");
	for (int i = 0; i < a->nservers && backlog_exp; i++)
		if (!el_sup_has(a->servers[i].cmd, "backlog"))
			return usage_error("--server %s: the backlog experiment needs {backlog} in CMD",
					   a->servers[i].name);
	if (sweep && (!a->sweep_model || a->target <= 0))
		return usage_error("%s", "--sweep needs --model M and --p99-target US");
	if (!sweep && a->sweep_model)
		return usage_error("%s", "--model is for --sweep; the experiment takes --models");
	return 0;
}

/* The models (with the servers by command) and client counts of the
 * mode, and its durations: every mode's defaults, the mode's own over
 * them, the command line's over both. Returns 0 or 2 after saying why. */
static int choose_cells(struct args *a, struct bench_cfg *cfg, const struct bench_cfg *known)
{
	/* Every mode's: one run of each cell, every model (unless servers by
	 * command run instead), the lab's client counts. */
	if (!a->repeats_set)
		cfg->repeats = 1;
	if (!a->nservers) {
		memcpy(cfg->models, known->models, sizeof(cfg->models));
		cfg->nmodels = known->nmodels;
	}
	static const long lab_counts[] = {30, 100, 300, 500};
	memcpy(cfg->counts, lab_counts, sizeof(lab_counts));
	cfg->ncounts = 4;
	int chosen;
	const struct mode *m = mode_of(a, &chosen);
	if (m->defaults)
		m->defaults(cfg, a, known);
	if (a->models) {
		if (split_models(a->models, cfg) <= 0)
			return usage_error("bad --models '%s'", a->models);
		for (int i = 0; i < cfg->nmodels; i++)
			if (!is_model(known, cfg->models[i]))
				return usage_error("unknown model '%s'", cfg->models[i]);
	}
	if (cfg->target_host) {
		snprintf(cfg->models[0], sizeof(cfg->models[0]), "target");
		cfg->nmodels = 1;
	}
	for (int i = 0; i < cfg->nmodels; i++)
		cfg->traits[i] = bench_model_traits(known, cfg->models[i]);
	/* Servers by command join the experiment's models (the backlog
	 * experiment takes them from bl itself). A name may be a model's
	 * (--server fork=...) when that model does not run too. */
	for (int i = 0; i < a->nservers && !a->backlog_exp; i++) {
		const char *name = a->servers[i].name;
		for (int j = 0; j < cfg->nmodels; j++)
			if (strcmp(cfg->models[j], name) == 0)
				return usage_error("--server %s: the name is taken already", name);
		if (cfg->nmodels == BENCH_MAX_MODELS)
			return usage_error("at most %d models and servers", BENCH_MAX_MODELS);
		snprintf(cfg->models[cfg->nmodels], sizeof(cfg->models[0]), "%s", name);
		cfg->traits[cfg->nmodels] = 0;
		cfg->cmds[cfg->nmodels++] = a->servers[i].cmd;
	}
	if (a->sweep && !is_model(known, a->sweep_model))
		return usage_error("unknown model '%s'", a->sweep_model);
	if (a->clients) {
		cfg->ncounts = split_counts(a->clients, cfg->counts, BENCH_MAX_COUNTS);
		if (cfg->ncounts <= 0)
			return usage_error("bad --clients '%s' (1 to 20000 each)", a->clients);
	}
	return 0;
}

/* The programs beside this one (or, installed, bench-minimal-client in
 * libexec): self is this program's directory. Returns 0, or 1 after
 * saying which is missing. */
static int find_programs(struct bench_cfg *cfg, char *self, size_t len, char *server, char *monitor,
			 char *minimal, size_t plen)
{
	ssize_t n = readlink("/proc/self/exe", self, len - 1);
	self[n > 0 ? n : 0] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(server, plen, "%s/echolab-server", self);
	snprintf(minimal, plen, "%s/bench-minimal-client", self);
	if (access(minimal, X_OK) < 0)
		snprintf(minimal, plen, "%s/../libexec/echolab/bench-minimal-client", self);
	snprintf(monitor, plen, "%s/echolab-monitor", self);
	cfg->monitor = monitor;
	if (access(cfg->monitor, X_OK) < 0) {
		fprintf(stderr, "echolab-bench: no echolab-monitor at %s\n", cfg->monitor);
		return 1;
	}
	if (!cfg->server)
		cfg->server = server;
	if (access(cfg->server, X_OK) < 0) {
		fprintf(stderr, "echolab-bench: no echolab-server at %s (--server-bin PATH)\n", cfg->server);
		return 1;
	}
	return 0;
}

/* Room for the clients' sockets, here and in the server; the signals. */
static void setup_process(void)
{
	el_cli_raise_nofile(0);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* bench-minimal-client's path, for --tools (find_programs). */
static char minimal_client[PATH_MAX + 64];

static int run_experiment(struct bench_cfg *cfg, struct args *a, const char *self)
{
	return bench_run_experiment(cfg);
}

static int run_sweep(struct bench_cfg *cfg, struct args *a, const char *self)
{
	return bench_run_sweep(cfg, a->sweep_model, cfg->counts[0], a->target, a->start_rate);
}

static int run_tools(struct bench_cfg *cfg, struct args *a, const char *self)
{
	return bench_run_tools(cfg, minimal_client);
}

static int run_soak(struct bench_cfg *cfg, struct args *a, const char *self)
{
	return bench_run_soak(cfg, a->duration_set ? cfg->duration_s : 600, &a->lim);
}

static int run_backlog(struct bench_cfg *cfg, struct args *a, const char *self)
{
	char pcap_tool[PATH_MAX + 32];
	snprintf(pcap_tool, sizeof(pcap_tool), "%s/echolab-pcap", self);
	a->bl.pcap_tool = pcap_tool;
	a->bl.servers = a->servers;
	a->bl.nservers = a->nservers;
	return bench_backlog_experiment(cfg, &a->bl);
}

int main(int argc, char **argv)
{
	static struct bench_cfg cfg = {
		.repeats = 1,
		.duration_s = 10,
		.warmup_s = 2,
		.interval_s = 0.5,
		.msg_size = 64,
		.pair = true,
		.stop = &stop,
	};
	static struct args a = {
		.out = "results",
		.lim = {.rss_kib_per_min = 512, .rss_frac_per_min = 0.002, .fds_per_min = 0.5, .settle_frac = 0.2},
		.start_rate = 2000,
		.delay_ms = -1,
		.fail_pct = -1,
		.min_pct = -1,
		.bl = {.backlogs = {1, 8, 128}, .nbacklogs = 3, .one_by_one = 10, .gap_s = 0.1, .burst = 50,
		       .hold_s = 3},
	};
	int rc = bench_parse_args(argc, argv, &cfg, &a);
	if (rc >= 0)
		return rc;
	if (a.fail_pct >= 0 && !a.compare)
		return usage_error("%s", "--fail-if-slower goes with --compare");
	if (a.min_pct >= 0 && !a.compare)
		return usage_error("%s", "--min-change goes with --compare");
	if (a.compare) {
		if (argc - optind != 2)
			return usage_error("%s", "--compare takes two results directories: DIR_A DIR_B");
		if (make_dirs(&cfg, a.out) < 0)
			return 1;
		snprintf(cfg.command, sizeof(cfg.command), "echolab-bench --compare %s %s", argv[optind],
			 argv[optind + 1]);
		return bench_compare(&cfg, argv[optind], argv[optind + 1], a.fail_pct, a.min_pct >= 0 ? a.min_pct : BENCH_MIN_CHANGE_PCT);
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if ((rc = check_args(&a, &cfg)) != 0)
		return rc;
	static char self[PATH_MAX], server[PATH_MAX + 64], monitor[PATH_MAX + 64];
	if (find_programs(&cfg, self, sizeof(self), server, monitor, minimal_client, sizeof(server)) != 0)
		return 1;
	static struct bench_cfg known;
	known = cfg;
	char listed[256];
	if (bench_list_models(&known, listed, sizeof(listed)) <= 0) {
		fprintf(stderr, "echolab-bench: %s\n", listed);
		return 1;
	}
	if ((rc = choose_cells(&a, &cfg, &known)) != 0)
		return rc;
	setup_process();
	struct el_lan net;
	int delay = a.delay_ms > 0 ? (int)a.delay_ms : 0;
	if (a.lan) {
		char why[512];
		if (el_lan_create(&net, delay, 0, why, sizeof(why)) < 0) {
			fprintf(stderr, "echolab-bench: --lan: %s\n", why);
			return 1;
		}
		cfg.lan = &net;
	}
	bench_describe_placement(&cfg, delay);
	int chosen;
	if (make_dirs(&cfg, a.out) < 0)
		rc = 1;
	else
		rc = mode_of(&a, &chosen)->run(&cfg, &a, self);
	if (a.lan)
		el_lan_destroy(&net);
	return rc;
}
