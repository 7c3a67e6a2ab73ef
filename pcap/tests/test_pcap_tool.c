/* echolab-pcap as a program: the summary's table and totals line, JSON,
 * the port filter, errors and exit codes, and a live capture on lo. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char out[1 << 16], err[4096];

static const char *tool(void)
{
	const char *p = getenv("ECHOLAB_PCAP");
	cr_assert_not_null(p, "ECHOLAB_PCAP is not set (run through meson test)");
	return p;
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* A pcap file of one clean connection 127.0.0.1:40000 -> 127.0.0.1:7000
 * (raw IPv4): handshake, 5 bytes each way, a FIN each way. */
static void write_clean(const char *path)
{
	static const struct {
		bool s2c;
		uint32_t seq, ack;
		uint8_t flags, len;
	} steps[] = {
		{false, 100, 0, 0x02, 0},  {true, 900, 101, 0x12, 0},  {false, 101, 901, 0x10, 0},
		{false, 101, 901, 0x18, 5}, {true, 901, 106, 0x18, 5},  {false, 106, 906, 0x11, 0},
		{true, 906, 107, 0x11, 0},  {false, 107, 907, 0x10, 0},
	};
	pcap_t *p = pcap_open_dead(DLT_RAW, 65535);
	pcap_dumper_t *d = pcap_dump_open(p, path);
	cr_assert_not_null(d);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		uint8_t pkt[64] = {0x45};
		put16(pkt + 2, 40u + steps[i].len);
		pkt[9] = 6;
		inet_pton(AF_INET, "127.0.0.1", pkt + 12);
		inet_pton(AF_INET, "127.0.0.1", pkt + 16);
		put16(pkt + 20, steps[i].s2c ? 7000 : 40000);
		put16(pkt + 22, steps[i].s2c ? 40000 : 7000);
		put32(pkt + 24, steps[i].seq);
		put32(pkt + 28, steps[i].ack);
		pkt[32] = 5 << 4;
		pkt[33] = steps[i].flags;
		struct pcap_pkthdr h = {.ts = {1700000000, (long)i * 1000},
					.caplen = 40u + steps[i].len, .len = 40u + steps[i].len};
		pcap_dump((u_char *)d, &h, pkt);
	}
	pcap_dump_close(d);
	pcap_close(p);
}

static void temp_path(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/echolab-pcap-tool-XXXXXX");
	int fd = mkstemp(buf);
	cr_assert_geq(fd, 0);
	close(fd);
}

static const char *last_line(const char *text)
{
	size_t n = strlen(text);
	cr_assert(n > 0 && text[n - 1] == '\n', "output ends with a line: %s", text);
	const char *p = text + n - 1;
	while (p > text && p[-1] != '\n')
		p--;
	return p;
}

Test(pcap_tool, summarize_table_ends_with_the_totals_line)
{
	char path[64];
	temp_path(path, sizeof(path));
	write_clean(path);
	int rc = th_run_program(tool(), NULL, out, sizeof(out), err, sizeof(err), "summarize", path,
			     NULL);
	cr_expect_eq(rc, 0, "%s", err);
	cr_expect_str_eq(last_line(out),
			 "flows=1 handshakes=1 syn_retransmits=0 synack_retransmits=0 "
			 "data_retransmits=0 fins=2 resets=0\n");
	cr_expect_not_null(strstr(out, "127.0.0.1:40000"), "%s", out);
	cr_expect_not_null(strstr(out, "127.0.0.1:7000"), "%s", out);

	rc = th_run_program(tool(), NULL, out, sizeof(out), err, sizeof(err), "summarize", path,
			 "--port", "7001", NULL);
	cr_expect_eq(rc, 0, "%s", err);
	cr_expect_str_eq(last_line(out),
			 "flows=0 handshakes=0 syn_retransmits=0 synack_retransmits=0 "
			 "data_retransmits=0 fins=0 resets=0\n");
	unlink(path);
}

Test(pcap_tool, summarize_json)
{
	char path[64];
	temp_path(path, sizeof(path));
	write_clean(path);
	int rc = th_run_program(tool(), NULL, out, sizeof(out), err, sizeof(err), "summarize", path,
			     "--json", "--port", "7000", NULL);
	cr_expect_eq(rc, 0, "%s", err);
	cr_expect_eq(strncmp(out, "{\"file\":\"", 9), 0, "%s", out);
	cr_expect_not_null(strstr(out, "\"totals\":{\"flows\":1,\"handshakes\":1,"), "%s", out);
	cr_expect_not_null(strstr(out, "\"bytes\":[5,5]"), "%s", out);
	cr_expect_not_null(strstr(out, "{\"t\":0.001000,\"kind\":\"synack\",\"dir\":\"s2c\"}"), "%s",
			   out);
	size_t n = strlen(out);
	cr_expect(n > 5 && strcmp(out + n - 5, "]}]}\n") == 0, "one object, then LF: %s", out);
	unlink(path);
}

Test(pcap_tool, errors_and_exit_codes)
{
	char path[64];
	temp_path(path, sizeof(path));
	unlink(path);
	int rc = th_run_program(tool(), NULL, out, sizeof(out), err, sizeof(err), "summarize", path,
			     NULL);
	cr_expect_eq(rc, 1);
	cr_expect_not_null(strstr(err, "No such file"), "%s", err);
	cr_expect_eq(strchr(err, '\n'), err + strlen(err) - 1, "one line: %s", err);

	/* Cut short: the flows up to the cut, and exit 1. */
	write_clean(path);
	cr_assert_eq(truncate(path, 24 + 16 + 40 + 16 + 20), 0);
	rc = th_run_program(tool(), NULL, out, sizeof(out), err, sizeof(err), "summarize", path, NULL);
	cr_expect_eq(rc, 1);
	cr_expect_not_null(strstr(err, "cut short after 1 packets"), "%s", err);
	cr_expect_not_null(strstr(out, "flows=1 handshakes=0"), "%s", out);
	unlink(path);

#define EXPECT_USAGE_ERROR(...)                                                              \
	do {                                                                                  \
		rc = th_run_program(tool(), NULL, out, sizeof(out), err, sizeof(err), __VA_ARGS__); \
		cr_expect_eq(rc, 2, "%s: status %d: %s", #__VA_ARGS__, rc, err);               \
		cr_expect_not_null(strstr(err, "(see --help)\n"), "%s: %s", #__VA_ARGS__, err); \
	} while (0)
	EXPECT_USAGE_ERROR((const char *)NULL, NULL);
	EXPECT_USAGE_ERROR("listen", NULL);
	EXPECT_USAGE_ERROR("capture", "--out", "x.pcap", NULL);
	EXPECT_USAGE_ERROR("capture", "--port", "70000", "--out", "x.pcap", NULL);
	EXPECT_USAGE_ERROR("capture", "--port", "80", NULL);
	EXPECT_USAGE_ERROR("capture", "--port", "80", "--out", "x.pcap", "--duration", "-1", NULL);
	EXPECT_USAGE_ERROR("summarize", NULL);
	EXPECT_USAGE_ERROR("summarize", "a.pcap", "b.pcap", NULL);
	EXPECT_USAGE_ERROR("summarize", "a.pcap", "--out", "x", NULL);
	EXPECT_USAGE_ERROR("summarize", "a.pcap", "--bogus", NULL);
	rc = th_run_program(tool(), NULL, out, sizeof(out), err, sizeof(err), "--help", NULL);
	cr_expect_eq(rc, 0);
	cr_expect_eq(strncmp(out, "usage: echolab-pcap capture", 27), 0, "%s", out);
}

struct traffic {
	unsigned port;
	const char *path;
	int replies;
};

/* One client on the server: connects, sends two messages, reads both
 * replies, closes. */
static void *make_traffic(void *arg)
{
	struct traffic *t = arg;
	/* The capture runs once its file has the pcap header (24 bytes). */
	struct stat st;
	for (int i = 0; i < 3000 && (stat(t->path, &st) < 0 || st.st_size < 24); i++)
		usleep(10000);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, "one\ntwo\n", 8) == 8) {
		char buf[512];
		size_t got = 0;
		ssize_t n;
		shutdown(fd, SHUT_WR);
		while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		buf[got] = 0;
		for (char *p = buf; (p = strchr(p, '\n')); p++)
			t->replies++;
	}
	close(fd);
	return NULL;
}

/* A live capture on lo while a client talks to a real server: the file
 * holds the whole connection, and nothing was dropped. */
Test(pcap_tool, capture_on_lo, .timeout = 60)
{
	struct th_server s;
	th_server_start(&s, "thread", "--quiet", NULL);
	char path[64], port[16];
	temp_path(path, sizeof(path));
	snprintf(port, sizeof(port), "%u", s.port);
	struct traffic t = {.port = s.port, .path = path};
	pthread_t th;
	pthread_create(&th, NULL, make_traffic, &t);
	int rc = th_run_program(tool(), NULL, out, sizeof(out), err, sizeof(err), "capture", "--iface",
			     "lo", "--port", port, "--out", path, "--duration", th_slow_factor() > 1 ? "15" : "2", NULL);
	pthread_join(th, NULL);
	th_server_stop(&s, SIGTERM);
	if (rc == 1 && strstr(err, "permission"))
		cr_skip_test("capturing needs root or CAP_NET_RAW: %s", err);
	cr_assert_eq(rc, 0, "%s", err);
	cr_expect_eq(t.replies, 2);
	cr_expect_not_null(strstr(err, ", 0 dropped by the kernel"), "%s", err);
	rc = th_run_program(tool(), NULL, out, sizeof(out), err, sizeof(err), "summarize", path, NULL);
	cr_expect_eq(rc, 0, "%s", err);
	cr_expect_str_eq(last_line(out),
			 "flows=1 handshakes=1 syn_retransmits=0 synack_retransmits=0 "
			 "data_retransmits=0 fins=2 resets=0\n");
	unlink(path);
}
