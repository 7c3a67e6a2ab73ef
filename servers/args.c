/* echolab-server's command line: the usage text, the options into the
 * server's configuration, the model by name. */
#include "server.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "framer.h"
#include "models.h"
#include "version.h"

static const char usage_text[] =
	"usage: echolab-server --model MODEL [--bind ADDR] [--port N] [--backlog N]\n"
	"                      [--raw] [--quiet] [--max-line N] [--max-conns N]\n"
	"                      [--idle-timeout SECONDS] [--workers N] [--processes N]\n"
	"       echolab-server --list-models\n"
	"\n"
	"An echo server of the echolab protocol (docs/protocol.md): each message\n"
	"(a line ended by LF or CRLF) is answered with\n"
	"    [TIME] [ADDR] [PORT] [MSG]\n"
	"and logged on standard output. Messages of other lines start with '# '.\n"
	"\n"
	"  --model MODEL        concurrency model (see --list-models)\n"
	"  --bind ADDR          address to listen on (default 127.0.0.1; '::' is\n"
	"                       dual-stack)\n"
	"  --port N             port (default 1234; 0: the kernel chooses)\n"
	"  --backlog N          listen(2) backlog, 0..65535 (default 128)\n"
	"  --raw                echo bytes verbatim (RFC 862), no framing or log\n"
	"  --quiet              no log on standard output\n"
	"  --max-line N         longest message in bytes, 1..1048576 (default 8192)\n"
	"  --max-conns N        connections served at once; others get '! busy'\n"
	"                       (default 0: no limit but the system's)\n"
	"  --idle-timeout S     close a connection idle for S seconds (decimals\n"
	"                       allowed; default 0: never)\n"
	"  --workers N          workers of the pooled models, 1..1024 (default:\n"
	"                       number of CPUs)\n"
	"  --processes N        an event-driven model as N processes, 1..64, each\n"
	"                       with its own listener on the port (SO_REUSEPORT)\n"
	"                       and its own fd limit; one server to its clients:\n"
	"                       one ready line, one --max-conns, one stop\n"
	"  --list-models        print the models, one a line: the name, a TAB,\n"
	"                       its traits (e.g. process-per-connection)\n"
	"  --help               this text\n"
	"  --version            the version, and the git checkout it was built from\n"
	"\n"
	"When ready it prints one line on standard error:\n"
	"    listening on 127.0.0.1:41234 model=iterative backlog=128\n"
	"SIGINT or SIGTERM stops it (exit 0). Exit 1: runtime failure; 2: usage.\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fprintf(stderr, "echolab-server: %s\n", text);
	return -EINVAL;
}

const struct el_model *el_srv_find_model(const char *name)
{
	for (const struct el_model *m = el_models; m->name; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

enum { O_MODEL = EL_CLI_OPT_FIRST, O_BIND, O_PORT, O_BACKLOG, O_RAW, O_QUIET, O_MAX_LINE, O_MAX_CONNS, O_IDLE, O_WORKERS,
       O_PROCESSES, O_LIST, O_HELP, O_VERSION };

/* The options with a number into cfg. Returns 0, or -EINVAL after saying
 * why. */
static int parse_number_option(int opt, const char *arg, struct el_srv_config *cfg)
{
	long v;
	double s;
	switch (opt) {
	case O_PORT:
		if (!el_cli_parse_long(arg, 0, 65535, &v))
			return usage_error("bad --port '%s': expected 0..65535", arg);
		cfg->port = (unsigned)v;
		return 0;
	case O_BACKLOG:
		if (!el_cli_parse_long(arg, 0, 65535, &v))
			return usage_error("bad --backlog '%s': expected 0..65535", arg);
		cfg->backlog = (int)v;
		return 0;
	case O_MAX_LINE:
		if (!el_cli_parse_long(arg, 1, EL_FRAMER_MAX_LINE_LIMIT, &v))
			return usage_error("bad --max-line '%s': expected 1..1048576", arg);
		cfg->max_line = (size_t)v;
		return 0;
	case O_MAX_CONNS:
		if (!el_cli_parse_long(arg, 0, 10000000, &v))
			return usage_error("bad --max-conns '%s': expected 0..10000000", arg);
		cfg->max_conns = v;
		return 0;
	case O_IDLE:
		if (!el_cli_parse_num(arg, 0, 31536000, &s))
			return usage_error("bad --idle-timeout '%s': expected seconds, 0..31536000", arg);
		cfg->idle_timeout_ms = (int64_t)ceil(s * 1000);
		return 0;
	case O_PROCESSES:
		if (!el_cli_parse_long(arg, 1, 64, &v))
			return usage_error("bad --processes '%s': expected 1..64", arg);
		cfg->processes = (int)v;
		return 0;
	default: /* O_WORKERS */
		if (!el_cli_parse_long(arg, 1, 1024, &v))
			return usage_error("bad --workers '%s': expected 1..1024", arg);
		cfg->workers = (int)v;
		return 0;
	}
}

int el_srv_parse_args(int argc, char **argv, struct el_srv_config *cfg)
{
	static const struct option opts[] = {
		{"model", required_argument, NULL, O_MODEL},         {"bind", required_argument, NULL, O_BIND},
		{"port", required_argument, NULL, O_PORT},           {"backlog", required_argument, NULL, O_BACKLOG},
		{"raw", no_argument, NULL, O_RAW},                   {"quiet", no_argument, NULL, O_QUIET},
		{"max-line", required_argument, NULL, O_MAX_LINE},   {"max-conns", required_argument, NULL, O_MAX_CONNS},
		{"idle-timeout", required_argument, NULL, O_IDLE},   {"workers", required_argument, NULL, O_WORKERS},
		{"list-models", no_argument, NULL, O_LIST},          {"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},           {"processes", required_argument, NULL, O_PROCESSES},
		{NULL, 0, NULL, 0},
	};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	*cfg = (struct el_srv_config){
		.bind = "127.0.0.1",
		.port = 1234,
		.backlog = 128,
		.max_line = EL_FRAMER_MAX_LINE_DEFAULT,
		.workers = ncpu > 0 ? (int)(ncpu > 1024 ? 1024 : ncpu) : 1,
		.processes = 1,
	};
	opterr = 0;
	optind = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case O_MODEL: cfg->model = optarg; break;
		case O_BIND: cfg->bind = optarg; break;
		case O_RAW: cfg->raw = true; break;
		case O_QUIET: cfg->quiet = true; break;
		case O_PORT:
		case O_BACKLOG:
		case O_MAX_LINE:
		case O_MAX_CONNS:
		case O_IDLE:
		case O_WORKERS:
		case O_PROCESSES:
			if (parse_number_option(opt, optarg, cfg) < 0)
				return -EINVAL;
			break;
		case O_LIST:
			for (const struct el_model *m = el_models; m->name; m++) {
				char t[256];
				el_traits_format(m->traits, ",", t, sizeof(t));
				printf("%s\t%s\n", m->name, t);
			}
			return 1;
		case O_HELP: fputs(usage_text, stdout); return 1;
		case O_VERSION: el_version_print("echolab-server"); return 1;
		case ':': return usage_error("option '%s' needs a value (see --help)", argv[optind - 1]);
		default: return usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s' (see --help)", argv[optind]);
	if (!cfg->model)
		return usage_error("--model is required (see --list-models)");
	const struct el_model *m = el_srv_find_model(cfg->model);
	if (!m)
		return usage_error("unknown model '%s' (see --list-models)", cfg->model);
	if (cfg->processes > 1 && !(m->traits & EL_TRAIT_EVENT_DRIVEN))
		return usage_error("--processes runs an event-driven model as several processes; %s is not one "
				   "(see --list-models)", cfg->model);
	return 0;
}
