/* echolab-pcap: captures the TCP traffic of a port into a pcap file, and
 * summarizes any pcap file per TCP flow (docs/interface.md). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "capture.h"
#include "flow.h"
#include "json.h"
#include "version.h"

#define usage_error(...) el_cli_usage("echolab-pcap", __VA_ARGS__)

static const char usage_text[] =
	"usage: echolab-pcap capture --iface IFACE --port N --out FILE.pcap [--duration S]\n"
	"       echolab-pcap summarize FILE.pcap [--port N] [--json]\n"
	"\n"
	"capture    writes the TCP packets to or from port N on IFACE (lo by\n"
	"           default) into a pcap file that Wireshark and tcpdump read,\n"
	"           for S seconds or until SIGINT/SIGTERM. Says how many packets\n"
	"           it wrote and how many the kernel dropped; any drop makes the\n"
	"           exit status 1, as the file then misses packets.\n"
	"summarize  reads a pcap file (echolab's, tcpdump's, Wireshark's;\n"
	"           Ethernet, Linux cooked, loopback or raw IP) and reports per TCP\n"
	"           flow, one per connection even when a port is reused: the\n"
	"           handshake, SYN and SYN-ACK retransmissions (the same ISN sent\n"
	"           again), data retransmissions (payload or FIN sent again),\n"
	"           FINs, RSTs and bytes each way (c>s: client to server). The\n"
	"           last line has the totals:\n"
	"  flows=N handshakes=N syn_retransmits=N synack_retransmits=N data_retransmits=N fins=N resets=N\n"
	"\n"
	"  --iface IFACE  the interface to capture on (default lo)\n"
	"  --port N       capture: required; summarize: only flows of port N\n"
	"  --out FILE     the pcap file to write\n"
	"  --duration S   stop capturing after S seconds\n"
	"  --json         summarize as one JSON object, each flow with its events\n"
	"  --help         this text\n"
	"  --version      the version, and the git checkout it was built from\n"
	"\n"
	"Exit 0; 1 when the capture cannot start (capturing needs root or\n"
	"CAP_NET_RAW), drops packets or a file cannot be read; 2 on bad usage.\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static bool parse_port(const char *s, unsigned *port)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 65535 || *s == '-')
		return false;
	*port = (unsigned)v;
	return true;
}

static int capture(const char *iface, unsigned port, const char *out, double duration)
{
	char filter[64], err[512];
	snprintf(filter, sizeof(filter), "tcp port %u", port);
	struct el_capture_opts o = {.iface = iface, .filter = filter, .path = out};
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct el_capture *c;
	int rc = el_capture_start(&c, &o, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "echolab-pcap: %s\n", err);
		return 1;
	}
	fprintf(stderr, "echolab-pcap: capturing %s on %s into %s%s\n", filter,
		iface ? iface : "lo", out, duration > 0 ? "" : " until SIGINT or SIGTERM");
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		double elapsed = (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) * 1e-9;
		if (duration > 0 && elapsed >= duration)
			break;
		double left = duration > 0 ? fmin(duration - elapsed, 0.1) : 0.1;
		struct timespec nap = {0, (long)(left * 1e9)};
		nanosleep(&nap, NULL);
	}
	struct el_capture_stats st;
	rc = el_capture_stop(c, &st, err, sizeof(err));
	fprintf(stderr, "echolab-pcap: %llu packets written to %s, %llu dropped by the kernel\n",
		(unsigned long long)st.packets, out, (unsigned long long)st.kernel_drops);
	if (rc < 0) {
		fprintf(stderr, "echolab-pcap: %s\n", err);
		return 1;
	}
	if (st.kernel_drops || st.iface_drops) {
		fprintf(stderr, "echolab-pcap: the capture is incomplete: the kernel dropped %llu "
				"packets\n",
			(unsigned long long)(st.kernel_drops + st.iface_drops));
		return 1;
	}
	return 0;
}


static void print_totals_json(FILE *f, const struct el_flow_totals *s)
{
	fprintf(f,
		"{\"flows\":%zu,\"handshakes\":%zu,\"syn_retransmits\":%u,"
		"\"synack_retransmits\":%u,\"data_retransmits\":%u,\"fins\":%u,\"resets\":%u,"
		"\"bytes\":%llu}",
		s->flows, s->handshakes, s->syn_retransmits, s->synack_retransmits,
		s->data_retransmits, s->fins, s->resets, (unsigned long long)s->bytes);
}

static void print_json(FILE *f, const char *path, const struct el_flow_table *t,
		       const struct el_flow_totals *sum, const char *error)
{
	fputs("{\"file\":", f);
	el_json_cstring(f, path);
	fprintf(f, ",\"packets\":%llu,\"tcp_packets\":%llu,\"short_packets\":%llu,",
		(unsigned long long)t->packets, (unsigned long long)t->tcp_packets,
		(unsigned long long)t->short_packets);
	if (error) {
		fputs("\"error\":", f);
		el_json_cstring(f, error);
		fputc(',', f);
	}
	fputs("\"totals\":", f);
	print_totals_json(f, sum);
	fputs(",\"flows\":[", f);
	for (size_t i = 0; i < t->n; i++) {
		const struct el_flow *fl = &t->flows[i];
		char a[64], b[64];
		fprintf(f, "%s\n{\"client\":", i ? "," : "");
		el_json_cstring(f, el_endpoint_str(&fl->client, a, sizeof(a)));
		fputs(",\"server\":", f);
		el_json_cstring(f, el_endpoint_str(&fl->server, b, sizeof(b)));
		fprintf(f,
			",\"start_s\":%.6f,\"end_s\":%.6f,\"saw_syn\":%s,\"handshake\":%s,"
			"\"syn_retransmits\":%u,\"synack_retransmits\":%u,"
			"\"data_retransmits\":[%u,%u],\"fins\":[%u,%u],\"resets\":[%u,%u],"
			"\"bytes\":[%llu,%llu],\"packets\":[%llu,%llu],",
			fl->t_first - t->t0, fl->t_last - t->t0, fl->saw_syn ? "true" : "false",
			fl->handshake ? "true" : "false", fl->syn_retransmits,
			fl->synack_retransmits, fl->data_retransmits[0], fl->data_retransmits[1],
			fl->fins[0], fl->fins[1], fl->resets[0], fl->resets[1],
			(unsigned long long)fl->bytes[0], (unsigned long long)fl->bytes[1],
			(unsigned long long)fl->packets[0], (unsigned long long)fl->packets[1]);
		/* When the first payload byte went each way: null for none. */
		fputs("\"first_data_s\":[", f);
		for (int d = 0; d < 2; d++) {
			if (fl->first_data[d] < 0)
				fprintf(f, "%snull", d ? "," : "");
			else
				fprintf(f, "%s%.6f", d ? "," : "", fl->first_data[d]);
		}
		fputs("],\"events\":[", f);
		for (size_t k = 0; k < fl->nevents; k++)
			fprintf(f, "%s{\"t\":%.6f,\"kind\":\"%s\",\"dir\":\"%s\"}", k ? "," : "",
				fl->events[k].t, el_flow_event_name(fl->events[k].kind),
				fl->events[k].dir == EL_C2S ? "c2s" : "s2c");
		fputs("]}", f);
	}
	fputs("]}\n", f);
}

static void print_table(FILE *f, const struct el_flow_table *t, const struct el_flow_totals *sum)
{
	fprintf(f, "%5s %-23s %-23s %10s %10s %3s %7s %7s %9s %5s %5s %10s %10s\n", "flow",
		"client", "server", "start_s", "end_s", "hs", "syn_rtx", "sa_rtx",
		"data_rtx", "fins", "rsts", "bytes_c>s", "bytes_s>c");
	for (size_t i = 0; i < t->n; i++) {
		const struct el_flow *fl = &t->flows[i];
		char a[64], b[64], d[24], fins[16], rsts[16];
		snprintf(d, sizeof(d), "%u/%u", fl->data_retransmits[0], fl->data_retransmits[1]);
		snprintf(fins, sizeof(fins), "%u/%u", fl->fins[0], fl->fins[1]);
		snprintf(rsts, sizeof(rsts), "%u/%u", fl->resets[0], fl->resets[1]);
		fprintf(f, "%5zu %-23s %-23s %10.6f %10.6f %3s %7u %7u %9s %5s %5s %10llu %10llu\n",
			i + 1, el_endpoint_str(&fl->client, a, sizeof(a)),
			el_endpoint_str(&fl->server, b, sizeof(b)), fl->t_first - t->t0,
			fl->t_last - t->t0, fl->handshake ? "yes" : (fl->saw_syn ? "no" : "-"),
			fl->syn_retransmits, fl->synack_retransmits, d, fins, rsts,
			(unsigned long long)fl->bytes[0], (unsigned long long)fl->bytes[1]);
	}
	fprintf(f, "%llu packets, %llu TCP packets analysed", (unsigned long long)t->packets,
		(unsigned long long)t->tcp_packets);
	if (t->short_packets)
		fprintf(f, ", %llu cut before their TCP header", (unsigned long long)t->short_packets);
	fprintf(f, "; hs: handshake completed (-: its start was not captured); x/y: c>s/s>c\n");
	fprintf(f,
		"flows=%zu handshakes=%zu syn_retransmits=%u synack_retransmits=%u "
		"data_retransmits=%u fins=%u resets=%u\n",
		sum->flows, sum->handshakes, sum->syn_retransmits, sum->synack_retransmits,
		sum->data_retransmits, sum->fins, sum->resets);
}

static int summarize(const char *path, unsigned port, bool json)
{
	struct el_flow_table t;
	el_flow_table_init(&t, (uint16_t)port);
	char err[1024];
	int rc = el_flow_read_file(&t, path, err, sizeof(err));
	/* A file cut short still has its flows up to the cut: show them, and
	 * fail. Other errors leave nothing to show. */
	if (rc < 0 && rc != -EIO) {
		fprintf(stderr, "echolab-pcap: %s\n", err);
		el_flow_table_finish(&t);
		return 1;
	}
	struct el_flow_totals sum;
	el_flow_totals(&t, &sum);
	if (json)
		print_json(stdout, path, &t, &sum, rc < 0 ? err : NULL);
	else
		print_table(stdout, &t, &sum);
	el_flow_table_finish(&t);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "echolab-pcap: writing the summary: %s\n", strerror(errno));
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "echolab-pcap: %s\n", err);
		return 1;
	}
	return 0;
}

/* The options' ids (cli.h: an enum from EL_CLI_OPT_FIRST). */
enum {
	O_IFACE = EL_CLI_OPT_FIRST, O_PORT, O_OUT, O_DURATION, O_JSON, O_HELP,
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"iface", required_argument, NULL, O_IFACE},
		{"port", required_argument, NULL, O_PORT},
		{"out", required_argument, NULL, O_OUT},
		{"duration", required_argument, NULL, O_DURATION},
		{"json", no_argument, NULL, O_JSON},
		{"help", no_argument, NULL, O_HELP},
		{0},
	};
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		el_version_print("echolab-pcap");
		return 0;
	}
	if (argc < 2)
		return usage_error("%s", "a command is required: capture or summarize");
	const char *cmd = argv[1];
	bool is_capture = !strcmp(cmd, "capture");
	if (!is_capture && strcmp(cmd, "summarize"))
		return usage_error("unknown command '%s' (capture or summarize)", cmd);
	const char *iface = NULL, *out = NULL;
	unsigned port = 0;
	double duration = 0;
	bool json = false;
	int c;
	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case O_IFACE:
			iface = optarg;
			break;
		case O_PORT:
			if (!parse_port(optarg, &port))
				return usage_error("bad --port '%s' (1 to 65535)", optarg);
			break;
		case O_OUT:
			out = optarg;
			break;
		case O_DURATION:
			errno = 0;
			duration = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(duration) || duration <= 0)
				return usage_error("bad --duration '%s' (seconds)", optarg);
			break;
		case O_JSON:
			json = true;
			break;
		case O_HELP:
			fputs(usage_text, stdout);
			return 0;
		default:
			return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (is_capture) {
		if (optind < argc)
			return usage_error("unexpected argument '%s'", argv[optind]);
		if (!port)
			return usage_error("%s", "capture needs --port");
		if (!out)
			return usage_error("%s", "capture needs --out FILE");
		if (json)
			return usage_error("%s", "--json is for summarize");
		return capture(iface, port, out, duration);
	}
	if (iface || out || duration > 0)
		return usage_error("%s", "summarize takes FILE [--port N] [--json]");
	if (optind + 1 != argc)
		return usage_error("%s", optind < argc ? "summarize takes one FILE"
						       : "summarize needs a pcap FILE");
	return summarize(argv[optind], port, json);
}
