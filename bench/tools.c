/* --tools: the tools measured. echolab-load against a minimal closed-loop
 * client (bench-minimal-client) at 100 connections, and the monitor's own
 * CPU on a large fork tree. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "bench.h"
#include "client.h"

static double run_minimal(const char *path, unsigned port, long conns, double seconds)
{
	char cmd[PATH_MAX + 128];
	snprintf(cmd, sizeof(cmd), "'%s' %u %ld %.3f", path, port, conns, seconds);
	FILE *f = popen(cmd, "r");
	if (!f)
		return -1;
	double rate = -1;
	char line[256];
	while (fgets(line, sizeof(line), f))
		sscanf(line, "msgs_per_s=%lf", &rate);
	pclose(f);
	return rate;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int bench_run_tools(struct bench_cfg *cfg, const char *minimal)
{
	/* 1. Messages/s of echolab-load and of the minimal client, alternated
	 *    against one server per pair, 100 connections. */
	enum { ROUNDS = 5 };
	double load1[ROUNDS], loadn[ROUNDS], mini[ROUNDS];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int saved_threads = cfg->threads;
	double seconds = cfg->duration_s;
	cfg->warmup_s = 0.5;
	FILE *md = NULL;
	char path[800];
	static struct bench_cell c;
	fprintf(stderr, "tools: echolab-load vs a minimal closed-loop client, 100 connections, epoll "
			"server, %d rounds of %.1f s each\n",
		ROUNDS, seconds);
	for (int i = 0; i < ROUNDS && !*cfg->stop; i++) {
		/* The minimal client against its own fresh server. */
		memset(&c, 0, sizeof(c));
		snprintf(c.model, sizeof(c.model), "epoll");
		c.clients = 100;
		for (int v = 0; v < 3 && !*cfg->stop; v++) {
			snprintf(c.cell_dir, sizeof(c.cell_dir), "cells/tools-%d-%s", i + 1,
				 v == 0 ? "load-1loop" : v == 1 ? "load-default" : "minimal");
			if (v < 2) {
				cfg->threads = v == 0 ? 1 : saved_threads;
				bench_run_cell(cfg, &c, 0);
				double r = c.ran && c.load.window_s > 0 ? (double)c.load.messages / c.load.window_s : -1;
				if (v == 0)
					load1[i] = r;
				else
					loadn[i] = r;
				continue;
			}
			/* The minimal client needs a server of its own: a cell with
			 * 1 client that idles, as a way to hold one up. */
			char dir[700];
			snprintf(dir, sizeof(dir), "%s/%s", cfg->dir, c.cell_dir);
			mkdir(dir, 0755);
			snprintf(path, sizeof(path), "%s/server.err", dir);
			static const char *const extra[] = {"--quiet", "--backlog", "1024", NULL};
			struct el_sup sv;
			char why[256];
			bool up = bench_server_start_model(cfg, "epoll", &sv, NULL, path, extra, why, sizeof(why)) == 0;
			if (!up)
				fprintf(stderr, "tools: %s\n", why);
			mini[i] = up ? run_minimal(minimal, sv.port, 100, seconds) : -1;
			if (up)
				el_sup_stop(&sv, SIGTERM, false, 5000, NULL);
		}
		fprintf(stderr, "round %d: echolab-load 1 loop %.0f msg/s, %ld loops %.0f msg/s, minimal %.0f msg/s\n",
			i + 1, load1[i], saved_threads ? (long)saved_threads : cpus, loadn[i], mini[i]);
	}
	cfg->threads = saved_threads;

	/* 2. The monitor's cost on a 500-process tree: a fork server holding
	 *    500 idle connections, sampled every 0.5 s, own CPU time counted. */
	fprintf(stderr, "tools: the monitor's CPU on a fork server with 500 connections (501 processes)\n");
	double cost[2] = {-1, -1};
	long tree_procs = 0;
	snprintf(path, sizeof(path), "%s/monitor-server.err", cfg->dir);
	static const char *const fork_extra[] = {"--quiet", "--backlog", "1024", "--max-conns", "600", NULL};
	struct el_sup tree;
	char why[256];
	unsigned port = 0;
	if (bench_server_start_model(cfg, "fork", &tree, NULL, path, fork_extra, why, sizeof(why)) == 0)
		port = tree.port;
	else
		fprintf(stderr, "tools: %s\n", why);
	pid_t pid = tree.pid;
	int fds[500];
	int nfds = 0;
	for (int i = 0; port && i < 500; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			if (fd >= 0)
				close(fd);
			break;
		}
		fds[nfds++] = fd;
	}
	sleep(1); /* every child forked */
	/* The monitor as users run it, a process of its own, its CPU taken
	 * from wait4: with its default budget, and with none (every detail of
	 * every process in every sample). */
	static const char *const budgets[2] = {NULL, "0"};
	const double monitor_s = 30;
	char staleness[2][512] = {"", ""};
	for (int b = 0; b < 2 && port && !*cfg->stop; b++) {
		char pidarg[16], dur[32], csv[PATH_MAX], err[PATH_MAX];
		snprintf(pidarg, sizeof(pidarg), "%d", (int)pid);
		snprintf(dur, sizeof(dur), "%g", monitor_s);
		snprintf(csv, sizeof(csv), "%s/monitor-tools-%s.csv", cfg->dir, b ? "nobudget" : "default");
		snprintf(err, sizeof(err), "%s/monitor-tools-%s.err", cfg->dir, b ? "nobudget" : "default");
		pid_t mon = fork();
		if (mon == 0) {
			if (!freopen(err, "w", stderr))
				_exit(127);
			const char *argv[] = {cfg->monitor, "--pid", pidarg, "--duration", dur, "--out", csv,
					      budgets[b] ? "--budget" : NULL, budgets[b], NULL};
			execv(cfg->monitor, (char *const *)argv);
			_exit(127);
		}
		struct rusage ru;
		int status = 0;
		if (mon < 0 || wait4(mon, &status, 0, &ru) != mon || !WIFEXITED(status) || WEXITSTATUS(status))
			break;
		double used = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		cost[b] = 100.0 * used / monitor_s;
		FILE *f = fopen(csv, "r");
		char line[1024];
		while (f && fgets(line, sizeof(line), f))
			if (isdigit((unsigned char)line[0]))
				tree_procs = atol(strchr(line, ',') + 1);
		if (f)
			fclose(f);
		if ((f = fopen(err, "r"))) {
			if (fgets(staleness[b], sizeof(staleness[b]), f))
				staleness[b][strcspn(staleness[b], "\n")] = 0;
			fclose(f);
		}
		fprintf(stderr, "monitor, %s: %.3f%% of one CPU over %.0f s of %ld processes\n",
			b ? "--budget 0" : "default budget", cost[b], monitor_s, tree_procs);
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (port)
		el_sup_stop(&tree, SIGTERM, false, 5000, NULL);

	qsort(load1, ROUNDS, sizeof(double), cmp_double);
	qsort(loadn, ROUNDS, sizeof(double), cmp_double);
	qsort(mini, ROUNDS, sizeof(double), cmp_double);
	double m1 = load1[ROUNDS / 2], mn = loadn[ROUNDS / 2], mm = mini[ROUNDS / 2];
	snprintf(path, sizeof(path), "%s/tools.md", cfg->dir);
	md = fopen(path, "w");
	char machine[512];
	bench_machine(machine, sizeof(machine));
	FILE *outs[2] = {stdout, md};
	for (int o = 0; o < 2; o++) {
		FILE *f = outs[o];
		if (!f)
			continue;
		fprintf(f, "# echolab tools benchmark\n\nMachine: %s.\n\nCommand: `%s`\n\n", machine, cfg->command);
		fprintf(f, "## echolab-load against a minimal closed-loop client\n\n"
			   "100 connections, 64-byte messages, one in flight each, epoll server, %d alternating "
			   "rounds of %.1f s; medians.\n\n",
			ROUNDS, seconds);
		fprintf(f, "| client | msgs/s (median) | ratio to minimal |\n|---|---|---|\n");
		fprintf(f, "| minimal (1 epoll loop, no checks, no timing) | %.0f | 1.000 |\n", mm);
		fprintf(f, "| echolab-load --threads 1 | %.0f | %.3f |\n", m1, mm > 0 ? m1 / mm : 0);
		fprintf(f, "| echolab-load (default threads) | %.0f | %.3f |\n\n", mn, mm > 0 ? mn / mm : 0);
		fprintf(f, "Target: echolab-load at least 0.95 of the minimal client: %s.\n\n",
			mm > 0 && (m1 >= 0.95 * mm || mn >= 0.95 * mm) ? "met" : "NOT met");
		fprintf(f, "## The monitor's own CPU\n\necholab-monitor on a fork server holding %d connections "
			   "(%ld processes), every 0.5 s for %.0f s, its CPU from wait4 (start-up and the first "
			   "sample, which reads every process, included).\n\n"
			   "| monitor | CPU, %% of one CPU | what it said |\n|---|---|---|\n"
			   "| default (`--budget 0.7`) | %.3f | %s |\n| `--budget 0` (every detail, every sample) | %.3f | %s |\n\n"
			   "Target: under 1%% with the default: %s.\n",
			nfds, tree_procs, monitor_s, cost[0], staleness[0][0] ? staleness[0] : "-", cost[1],
			staleness[1][0] ? staleness[1] : "-", cost[0] >= 0 && cost[0] < 1.0 ? "met" : "NOT met");
	}
	if (md)
		fclose(md);
	return *cfg->stop ? 130 : 0;
}
