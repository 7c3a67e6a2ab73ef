/* echolab-client, run as a program against the real server. */
#include <errno.h>
#include <netinet/in.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static const char *client_path(void)
{
	const char *p = getenv("ECHOLAB_CLIENT");
	cr_assert_not_null(p, "ECHOLAB_CLIENT is not set (run through meson test)");
	return p;
}

/* Counts the lines of out that match the client's fixed output format for
 * msg, and fails on any other line. */
static int count_reply_lines(const char *out, const char *addr_re, const char *msg)
{
	char pattern[256];
	snprintf(pattern, sizeof(pattern),
		 "^\\[[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z\\] "
		 "\\[%s\\] \\[[0-9]+\\] \\[%s\\]\trtt_us=[0-9]+$",
		 addr_re, msg);
	regex_t re;
	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	int n = 0;
	char *copy = strdup(out), *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cr_expect_eq(regexec(&re, line, 0, NULL, 0), 0, "unexpected output line: %s", line);
		n++;
	}
	free(copy);
	regfree(&re);
	return n;
}

static char out[1 << 16], err[4096];

Test(client, message_count_prints_each_reply_with_rtt, .timeout = 60)
{
	struct th_server s;
	th_server_start(&s, "iterative", NULL);
	char port[8];
	snprintf(port, sizeof(port), "%u", s.port);
	int rc = th_run_program(client_path(), NULL, out, sizeof(out), err, sizeof(err), "--port", port,
			     "--message", "hello [x]", "--count", "3", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s", rc, err);
	cr_expect_eq(count_reply_lines(out, "127\\.0\\.0\\.1", "hello \\[x\\]"), 3, "%s", out);
	cr_expect_str_empty(err);
	th_server_stop(&s, SIGTERM);
}

/* --json: one object a reply (JSON Lines), the reply and what it says,
 * quotes and backslashes escaped; in raw mode the bytes and no fields. */
Test(client, json_lines_one_object_a_reply, .timeout = 60)
{
	struct th_server s;
	th_server_start(&s, "poll", NULL);
	char port[8];
	snprintf(port, sizeof(port), "%u", s.port);
	int rc = th_run_program(client_path(), NULL, out, sizeof(out), err, sizeof(err), "--port", port,
			     "--message", "say \"hi\" \\ [x]", "--count", "2", "--json", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s", rc, err);
	/* Each line exactly as expected, its variable fields (rtt, time,
	 * port) read back from it first. */
	int n = 0;
	char *save = NULL;
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
		int seq = 0;
		long rtt = -1;
		unsigned cport = 0;
		char when[32] = "", want[1024];
		const char *t = strstr(line, "\"time\":\""), *pt = strstr(line, "\"port\":");
		cr_assert(sscanf(line, "{\"seq\":%d,\"rtt_us\":%ld,", &seq, &rtt) == 2 && t && pt &&
				  sscanf(t + 8, "%27[0-9T:.Z-]", when) == 1 && sscanf(pt + 7, "%u", &cport) == 1,
			  "not a reply object: %s", line);
		snprintf(want, sizeof(want),
			 "{\"seq\":%d,\"rtt_us\":%ld,\"echoed\":true,\"reply\":\"[%s] [127.0.0.1] [%u] "
			 "[say \\\"hi\\\" \\\\ [x]]\",\"time\":\"%s\",\"addr\":\"127.0.0.1\",\"port\":%u,"
			 "\"message\":\"say \\\"hi\\\" \\\\ [x]\"}",
			 n + 1, rtt, when, cport, when, cport);
		cr_expect_str_eq(line, want);
	}
	cr_expect_eq(n, 2, "%d lines", n);
	th_server_stop(&s, SIGTERM);

	th_server_start(&s, "poll", "--raw", NULL);
	snprintf(port, sizeof(port), "%u", s.port);
	rc = th_run_program(client_path(), NULL, out, sizeof(out), err, sizeof(err), "--port", port, "--raw",
			 "--message", "tab\there", "--json", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s", rc, err);
	regex_t re;
	cr_assert_eq(regcomp(&re, "^\\{\"seq\":1,\"rtt_us\":[0-9]+,\"echoed\":true,\"reply\":\"tab\\\\there\"\\}\n$",
			     REG_EXTENDED | REG_NOSUB), 0);
	cr_expect_eq(regexec(&re, out, 0, NULL, 0), 0, "raw: %s", out);
	regfree(&re);
	th_server_stop(&s, SIGTERM);
}

Test(client, interactive_sends_each_stdin_line, .timeout = 60)
{
	struct th_server s;
	th_server_start(&s, "iterative", NULL);
	char port[8];
	snprintf(port, sizeof(port), "%u", s.port);
	int rc = th_run_program(client_path(), "one\none\none\r\none", out, sizeof(out), err, sizeof(err),
			     "--port", port, NULL);
	cr_expect_eq(rc, 0, "exit %d: %s", rc, err);
	cr_expect_eq(count_reply_lines(out, "127\\.0\\.0\\.1", "one"), 4, "%s", out);
	th_server_stop(&s, SIGTERM);
}

Test(client, ipv6_host, .timeout = 60)
{
	int probe = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	bool ok = probe >= 0 && bind(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (probe >= 0)
		close(probe);
	if (!ok)
		cr_skip_test("no IPv6 loopback on this machine");
	struct th_server s;
	th_server_start(&s, "iterative", "--bind", "::1", NULL);
	char port[8];
	snprintf(port, sizeof(port), "%u", s.port);
	int rc = th_run_program(client_path(), NULL, out, sizeof(out), err, sizeof(err), "--host", "::1",
			     "--port", port, "--message", "v6", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s", rc, err);
	cr_expect_eq(count_reply_lines(out, "::1", "v6"), 1, "%s", out);
	th_server_stop(&s, SIGTERM);
}

/* A port nobody listens on: bind one and never listen. */
Test(client, refused_exits_1_with_the_reason)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &len);
	char port[8];
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
	int rc = th_run_program(client_path(), NULL, out, sizeof(out), err, sizeof(err), "--port", port,
			     "--message", "x", NULL);
	close(fd);
	cr_expect_eq(rc, 1);
	cr_expect_not_null(strstr(err, "Connection refused"), "%s", err);
	cr_expect_eq(strchr(err, '\n'), err + strlen(err) - 1, "not one line: %s", err);
}

/* A fake server that accepts and closes at once. */
Test(client, closed_early_exits_1_with_the_reason, .timeout = 60)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	listen(lfd, 4);
	getsockname(lfd, (struct sockaddr *)&sa, &len);
	pid_t pid = fork();
	if (pid == 0) {
		int c = accept(lfd, NULL, NULL);
		char b[64];
		read(c, b, sizeof(b));
		shutdown(c, SHUT_WR);
		sleep(2);
		_exit(0);
	}
	char port[8];
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
	int rc = th_run_program(client_path(), NULL, out, sizeof(out), err, sizeof(err), "--port", port,
			     "--message", "x", "--count", "2", NULL);
	kill(pid, SIGKILL);
	close(lfd);
	cr_expect_eq(rc, 1);
	cr_expect_not_null(strstr(err, "closed the connection after 0 of 1 replies"), "%s", err);
}

Test(client, busy_server_exits_1, .timeout = 60)
{
	struct th_server s;
	th_server_start(&s, "iterative", "--max-conns", "1", NULL);
	struct th_client hog;
	th_client_open(&hog, &s);
	th_client_send_str(&hog, "hog\n");
	th_client_expect_echo(&hog, "hog", 3);
	char port[8];
	snprintf(port, sizeof(port), "%u", s.port);
	int rc = th_run_program(client_path(), NULL, out, sizeof(out), err, sizeof(err), "--port", port,
			     "--message", "x", NULL);
	cr_expect_eq(rc, 1);
	cr_expect_not_null(strstr(err, "busy"), "%s", err);
	th_client_close(&hog);
	th_server_stop(&s, SIGTERM);
}

Test(client, bad_usage_exits_2)
{
	const char *bad[][2] = {{"--port", "0"}, {"--count", "3"}, {"--bogus", NULL}, {"--timeout", "x"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = th_run_program(client_path(), NULL, out, sizeof(out), err, sizeof(err), bad[i][0],
				     bad[i][1], NULL);
		cr_expect_eq(rc, 2, "%s: exit %d", bad[i][0], rc);
		cr_expect_eq(strncmp(err, "echolab-client: ", 16), 0, "%s", err);
	}
	cr_expect_eq(th_run_program(client_path(), NULL, out, sizeof(out), err, sizeof(err), "--help", NULL), 0);
	cr_expect_not_null(strstr(out, "usage: echolab-client"));
}

/* The server's ready line, wherever it stands in its stderr text. */
Test(client, ready_port_parses_the_ready_line)
{
	static const struct {
		const char *text;
		unsigned port;
	} cases[] = {
		{"listening on 127.0.0.1:41234 model=epoll backlog=128\n", 41234},
		{"listening on [::1]:5 model=thread backlog=1", 5},
		{"warning: something\nlistening on 0.0.0.0:1234\n", 1234},
		{"listening on 127.0.0.1:412", 0}, /* still being written */
		{"listening on 127.0.0.1 model=x", 0},
		{"echolab-server: model uring unavailable: ENOSYS\n", 0},
		{"", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(el_ready_port(cases[i].text), cases[i].port, "\"%s\"", cases[i].text);
}
