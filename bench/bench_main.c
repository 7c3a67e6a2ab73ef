/* echolab-bench: the lab's experiment for every server model and its
 * other modes (mode.h, modes.c): the command line checked against the
 * mode chosen, its cells chosen, and its run. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "bench.h"
#include "bench_args.h"

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

/* "the experiment, --quick and --sweep": the modes that take what. */
static const char *takers(unsigned what, char *buf, size_t len)
{
	size_t n = 0, count = 0, total = 0;
	for (size_t i = 0; i < bench_nmodes; i++)
		total += (bench_modes[i]->takes & what) != 0;
	buf[0] = 0;
	for (size_t i = 0; i < bench_nmodes && n < len; i++) {
		if (!(bench_modes[i]->takes & what))
			continue;
		count++;
		const char *sep = count == 1 ? "" : count == total ? " and " : ", ";
		char title[64];
		n += (size_t)snprintf(buf + n, len - n, "%s%s", sep,
				      bench_mode_title(bench_modes[i], title, sizeof(title)));
	}
	return buf;
}

/* The options that do not go together, the table's (what each mode
 * takes) and the mode's own check. Returns 0 or 2 after saying why. */
static int check_args(const struct bench_args *a, const struct bench_cfg *cfg)
{
	const struct bench_mode *m = a->mode;
	char names[160];
	if (a->noperands != m->operands) {
		if (m->operands)
			return usage_error("%s takes %s", bench_mode_title(m, names, sizeof(names)), m->operands_are);
		return usage_error("unexpected argument '%s'", a->operands[0]);
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
	if (cfg->target_host && (m != bench_modes[0] || a->models || a->nservers || cfg->pinned))
		return usage_error("%s", "--target measures one running server in the experiment: no --models, "
					 "--server, --cpus, --quick or other mode with it");
	if (cfg->spawn && cfg->processes)
		return usage_error("%s", "--spawn and --processes exclude each other (--spawn is a process per client)");
	if (cfg->target_monitor && !cfg->target_host)
		return usage_error("%s", "--target-monitor goes with --target");
	if (a->delay_ms >= 0 && !a->lan)
		return usage_error("%s", "--delay is the emulated LAN's: it needs --lan");
	if (a->lan && cfg->target_host)
		return usage_error("%s", "--lan is for the experiment against echolab's models and servers by "
					 "command, not --target");
	return m->check ? m->check(cfg, a) : 0;
}

/* The models (with the servers by command) and client counts of the
 * mode, and its durations: every mode's defaults, the mode's own over
 * them, the command line's over both. Returns 0 or 2 after saying why. */
static int choose_cells(struct bench_args *a, struct bench_cfg *cfg, const struct bench_cfg *known)
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
	int rc = a->mode->defaults ? a->mode->defaults(cfg, a, known) : 0;
	if (rc)
		return rc;
	if (a->models) {
		if (split_models(a->models, cfg) <= 0)
			return usage_error("bad --models '%s'", a->models);
		for (int i = 0; i < cfg->nmodels; i++)
			if (!bench_is_model(known, cfg->models[i]))
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
	for (int i = 0; i < a->nservers && !a->mode->servers_apart; i++) {
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
	if (a->clients) {
		cfg->ncounts = split_counts(a->clients, cfg->counts, BENCH_MAX_COUNTS);
		if (cfg->ncounts <= 0)
			return usage_error("bad --clients '%s' (1 to 20000 each)", a->clients);
	}
	return 0;
}

/* The programs beside this one: self is this program's directory.
 * Returns 0, or 1 after saying which is missing. */
static int find_programs(struct bench_cfg *cfg, char *self, size_t len, char *server, char *monitor, size_t plen)
{
	ssize_t n = readlink("/proc/self/exe", self, len - 1);
	self[n > 0 ? n : 0] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(server, plen, "%s/echolab-server", self);
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
	static struct bench_args a = {.out = "results", .delay_ms = -1};
	int rc = bench_parse_args(argc, argv, &cfg, &a);
	if (rc >= 0)
		return rc;
	if ((rc = check_args(&a, &cfg)) != 0)
		return rc;
	/* A mode with operands reads results: no server, no cells. */
	if (a.mode->operands)
		return make_dirs(&cfg, a.out) < 0 ? 1 : a.mode->run(&cfg, &a);
	static char server[PATH_MAX + 64], monitor[PATH_MAX + 64];
	if (find_programs(&cfg, a.self, sizeof(a.self), server, monitor, sizeof(server)) != 0)
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
	rc = make_dirs(&cfg, a.out) < 0 ? 1 : a.mode->run(&cfg, &a);
	if (a.lan)
		el_lan_destroy(&net);
	return rc;
}
