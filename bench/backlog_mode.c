/* --backlog-experiment as a mode of echolab-bench (mode.h): its options
 * and its row; the experiment itself is backlog.c. */
#include <limits.h>
#include <math.h>
#include <stdio.h>

#include "backlog.h"
#include "cli.h"
#include "mode.h"

#define usage_error(...) el_cli_usage("echolab-bench", __VA_ARGS__)

/* The mode's own settings (its options). */
static struct bl_opts bl = {.backlogs = {1, 8, 128}, .nbacklogs = 3, .one_by_one = 10, .gap_s = 0.1, .burst = 50,
			    .hold_s = 3};

static int opt_backlogs(const char *arg)
{
	if (bl_parse_backlogs(arg, &bl) < 0)
		return usage_error("bad --backlogs '%s' (0 to 65535 each, at most %d)", arg, BL_MAX_BACKLOGS);
	return 0;
}

static int opt_burst(const char *arg)
{
	double v;
	if (!el_cli_parse_num(arg, 1, 1000, &v) || v != floor(v))
		return usage_error("bad --burst '%s' (1 to 1000)", arg);
	bl.burst = (int)v;
	return 0;
}

static int opt_hold(const char *arg)
{
	return el_cli_parse_num(arg, 0.1, 600, &bl.hold_s) ? 0 : usage_error("bad --hold '%s' (seconds)", arg);
}

/* Each server's listen backlog is the run's: CMD must take it. */
static int backlog_check(const struct bench_cfg *cfg, const struct bench_args *a)
{
	(void)cfg;
	for (int i = 0; i < a->nservers; i++)
		if (!el_sup_has(a->servers[i].cmd, "backlog"))
			return usage_error("--server %s: the backlog experiment needs {backlog} in CMD",
					   a->servers[i].name);
	return 0;
}

static int backlog_run(struct bench_cfg *cfg, const struct bench_args *a)
{
	char pcap_tool[PATH_MAX + 32];
	snprintf(pcap_tool, sizeof(pcap_tool), "%s/echolab-pcap", a->self);
	bl.pcap_tool = pcap_tool;
	bl.servers = a->servers;
	bl.nservers = a->nservers;
	return bench_backlog_experiment(cfg, &bl);
}

const struct bench_mode bench_mode_backlog = {
	.name = "backlog-experiment",
	.synopsis = "--backlog-experiment [--models LIST] [--server NAME=CMD]...\n"
		    "[--backlogs LIST] [--burst N] [--hold S]",
	.help = "the lab's Wireshark finding, captured: for each server,\n"
		"listen backlog and pattern (10 clients 0.1 s apart, or\n"
		"--burst at once), clients connect, send one message and\n"
		"hold; each run in a network namespace of its own (root),\n"
		"its traffic captured, analysed and drawn as a timeline",
	.takes = TAKES_SERVER,
	.options = (const struct bench_mode_option[]){
		{.name = "backlogs",
		 .arg = "LIST",
		 .help = "the backlog experiment's backlogs (default 1,8,128)",
		 .parse = opt_backlogs},
		{.name = "burst",
		 .arg = "N",
		 .help = "clients of the burst (default 50)",
		 .parse = opt_burst},
		{.name = "hold",
		 .arg = "S",
		 .help = "how long clients wait for their reply after the last\n"
			 "one started (default 3)",
		 .parse = opt_hold},
		{0},
	},
	.servers_apart = true,
	.check = backlog_check,
	.run = backlog_run,
};
