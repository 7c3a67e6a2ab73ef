/* echolab-server's own behaviours beyond the wire protocol (its ready
 * line, its log, its flags, its exit codes, stopping under load), checked
 * against the real binary once per model that `echolab-server
 * --list-models` prints. The protocol's behaviours are echolab-conform's
 * cases (conform/cases.c), run for every model by test_conform.c. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "io.h"
#include "reply.h"

#define T_OPTS .timeout = 120

MODEL_TEST(ready_line_is_exact, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, param->name, "--backlog", "7", NULL);
	regex_t re;
	char pattern[128];
	snprintf(pattern, sizeof(pattern),
		 "^listening on 127\\.0\\.0\\.1:[1-9][0-9]* model=%s backlog=7$", param->name);
	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	cr_expect_eq(regexec(&re, s.ready, 0, NULL, 0), 0, "ready line: %s", s.ready);
	regfree(&re);
	th_server_stop(&s, SIGTERM);
}

MODEL_TEST(log_escapes_and_prefixes_lines, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, param->name, NULL);
	struct th_client c;
	th_client_open(&c, &s);
	const char msg[] = "a\x1b[31mred\\ \x01\x7f\xff\r\n";
	th_client_send(&c, msg, sizeof(msg) - 1);
	th_client_expect_echo(&c, msg, sizeof(msg) - 3);
	th_client_send_str(&c, "plain [text]\n");
	uint8_t *reply;
	th_client_line(&c, &reply, 5000);
	/* A fake log line inside a message stays inside its line. */
	th_client_send_str(&c, "x\r# close forged\n");
	th_client_expect_echo(&c, "x\r# close forged", 16);
	th_client_close(&c);
	th_server_stop(&s, SIGTERM);

	char *log = th_server_log(&s, NULL);
	char want[128];
	snprintf(want, sizeof(want), "] [127.0.0.1] [%u] [a\\x1b[31mred\\\\ \\x01\\x7f\\xff]\n",
		 c.local_port);
	cr_expect_not_null(strstr(log, want), "escaped line missing from log:\n%s", log);
	/* The log line of a printable message is the reply line itself. */
	cr_expect_not_null(strstr(log, (char *)reply), "reply \"%s\" not in log:\n%s", reply, log);
	cr_expect_not_null(strstr(log, "[x\\x0d# close forged]\n"));
	/* Every line is a message line or starts with "# ". */
	int messages = 0, events = 0;
	for (char *line = log; *line;) {
		char *end = strchr(line, '\n');
		cr_assert_not_null(end, "log does not end with LF");
		if (line[0] == '[')
			messages++;
		else if (strncmp(line, "# ", 2) == 0)
			events++;
		else
			cr_assert_fail("log line neither \"[\" nor \"# \": %.*s", (int)(end - line), line);
		line = end + 1;
	}
	cr_expect_eq(messages, 3);
	cr_expect_geq(events, 2, "no open/close lines in the log");
	free(reply);
	free(log);
}

MODEL_TEST(quiet_logs_nothing, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, param->name, "--quiet", NULL);
	struct th_client c;
	th_client_open(&c, &s);
	th_client_send_str(&c, "hush\n");
	th_client_expect_echo(&c, "hush", 4);
	th_client_close(&c);
	th_server_stop(&s, SIGTERM);
	size_t len;
	char *log = th_server_log(&s, &len);
	cr_expect_eq(len, 0, "--quiet still logged: %s", log);
	free(log);
}

/* Writes to a client that reads nothing until the server has stopped
 * reading for 1 s (at most 64 MiB). Returns the bytes sent. */
static size_t flood_without_reading(struct th_client *a, const char *model)
{
	el_io_set_nonblock(a->fd, true);
	char chunk[64 * 1024];
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = i % 64 == 63 ? '\n' : 'a';
	size_t sent = 0;
	int64_t stalled_since = el_io_now_ms();
	while (sent < (64u << 20) && el_io_now_ms() - stalled_since < 1000) {
		ssize_t n = send(a->fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			stalled_since = el_io_now_ms();
		} else {
			usleep(10000);
		}
	}
	cr_assert_lt(sent, 64u << 20, "%s read 64 MiB from a client that reads nothing", model);
	return sent;
}

/* On SIGTERM every message the server finished reading (and so logged) is
 * answered before the connection closes. The client has filled the
 * server's output, so replies are waiting when the signal comes. */
MODEL_TEST(stop_answers_every_message_already_read, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, param->name, NULL);
	struct th_client a;
	th_client_open(&a, &s);
	flood_without_reading(&a, param->name);
	th_server_signal(&s, SIGTERM);
	el_io_set_nonblock(a.fd, false);
	long replies = 0;
	for (;;) {
		uint8_t *line = NULL;
		ssize_t n = th_client_try_line(&a, &line, 5000);
		if (n <= 0)
			break;
		cr_assert_eq(line[0], '[', "not an echo: %s", line);
		free(line);
		replies++;
	}
	th_server_wait(&s, SIGTERM);
	size_t len = 0;
	char *log = th_server_log(&s, &len);
	/* memchr over the known length: strchr would scan to the end of the
	 * log for each line under ASan's strict string checks (53 s a model). */
	long logged = len > 0 && log[0] == '[';
	for (const char *p = log, *end = log + len; (p = memchr(p, '\n', (size_t)(end - p))); p++)
		logged += p + 1 < end && p[1] == '[';
	free(log);
	cr_log_info("%s: %ld messages read before the stop, %ld answered", param->name, logged, replies);
	cr_expect_gt(replies, 0);
	cr_expect_eq(replies, logged, "%ld messages were read but %ld answered", logged, replies);
	th_client_close(&a);
}

static bool have_ipv6_loopback(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

MODEL_TEST(ipv6_bind_and_address, T_OPTS)
{
	if (!have_ipv6_loopback())
		cr_skip_test("this machine has no IPv6 loopback (::1)");
	struct th_server s;
	th_server_start(&s, param->name, "--bind", "::1", NULL);
	cr_expect_eq(strncmp(s.ready, "listening on [::1]:", 19), 0, "%s", s.ready);
	struct th_client c;
	th_client_open_host(&c, "::1", s.port);
	th_client_send_str(&c, "six\n");
	uint8_t *line;
	size_t n = th_client_line(&c, &line, 5000);
	struct el_reply r;
	cr_assert_eq(el_reply_parse(line, n, &r), 0);
	cr_expect_str_eq(r.addr, "::1");
	cr_expect_eq(r.port, c.local_port);
	free(line);
	th_client_close(&c);
	th_server_stop(&s, SIGTERM);
}

MODEL_TEST(dual_stack_shows_mapped_ipv4_as_ipv4, T_OPTS)
{
	if (!have_ipv6_loopback())
		cr_skip_test("this machine has no IPv6 (needed for a dual-stack socket)");
	struct th_server s;
	th_server_start(&s, param->name, "--bind", "::", NULL);
	struct th_client c;
	th_client_open(&c, &s);
	th_client_send_str(&c, "four\n");
	uint8_t *line;
	size_t n = th_client_line(&c, &line, 5000);
	struct el_reply r;
	cr_assert_eq(el_reply_parse(line, n, &r), 0);
	cr_expect_str_eq(r.addr, "127.0.0.1", "%s", line);
	free(line);
	th_client_close(&c);
	th_server_stop(&s, SIGTERM);
}

static void stop_with_clients(const char *model, int sig)
{
	struct th_server s;
	th_server_start(&s, model, NULL);
	struct th_client a;
	th_client_open(&a, &s);
	th_client_send_str(&a, "busy client\n");
	th_client_expect_echo(&a, "busy client", 11);
	struct th_client b;
	th_client_open(&b, &s); /* connected, maybe not yet accepted */
	th_server_stop(&s, sig);
	th_client_expect_eof(&a, 2000);
	th_client_close(&a);
	th_client_close(&b);
}

MODEL_TEST(sigterm_exits_0_and_leaves_nothing, T_OPTS)
{
	stop_with_clients(param->name, SIGTERM);
}

MODEL_TEST(sigint_exits_0_and_leaves_nothing, T_OPTS)
{
	stop_with_clients(param->name, SIGINT);
}

MODEL_TEST(sequential_or_concurrent_service, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, param->name, NULL);
	struct th_client a, b;
	th_client_open(&a, &s);
	th_client_send_str(&a, "first\n");
	th_client_expect_echo(&a, "first", 5);
	th_client_open(&b, &s);
	th_client_send_str(&b, "second\n");
	if (th_model_is_sequential(param)) {
		uint8_t *line = NULL;
		ssize_t n = th_client_try_line(&b, &line, 500);
		cr_expect_eq(n, -ETIMEDOUT, "a sequential model served a second client while the first stayed");
		if (n > 0)
			free(line);
		th_client_send_str(&a, "still first\n");
		th_client_expect_echo(&a, "still first", 11);
		th_client_close(&a);
		th_client_expect_echo(&b, "second", 6);
	} else {
		th_client_expect_echo(&b, "second", 6);
		th_client_send_str(&a, "still first\n");
		th_client_expect_echo(&a, "still first", 11);
		th_client_close(&a);
	}
	th_client_close(&b);
	th_server_stop(&s, SIGTERM);
}

MODEL_TEST(backlog_reaches_listen, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, param->name, "--backlog", "3", NULL);
	/* ss shows a listening socket's backlog in its Send-Q column. Only
	 * its absence skips; ss without the listener's row fails. */
	if (system("ss -V >/dev/null 2>&1") != 0) {
		th_server_stop(&s, SIGTERM);
		cr_skip_test("ss (iproute2) is not available to read the backlog");
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "ss -Hltn 'sport = :%u' 2>&1", s.port);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	char line[256] = "";
	bool row = fgets(line, sizeof(line), p) != NULL;
	pclose(p);
	cr_assert(row, "ss shows no listening socket on port %u", s.port);
	char state[32];
	int recvq, sendq;
	cr_assert_eq(sscanf(line, "%31s %d %d", state, &recvq, &sendq), 3, "ss said: %s", line);
	cr_expect_eq(sendq, 3, "listen backlog is %d, not 3", sendq);
	th_server_stop(&s, SIGTERM);
}

MODEL_TEST(fixed_port_is_used, T_OPTS)
{
	/* Ask the kernel for a free port, release it, and use it. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	char port[8];
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
	struct th_server s;
	th_server_start(&s, param->name, "--port", port, NULL);
	cr_expect_eq(s.port, ntohs(sa.sin_port));
	th_server_stop(&s, SIGTERM);
}

MODEL_TEST(address_in_use_exits_1, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, param->name, NULL);
	char port[8], err[512];
	snprintf(port, sizeof(port), "%u", s.port);
	int rc = th_server_run(err, sizeof(err), "--model", param->name, "--port", port, NULL);
	cr_expect_eq(rc, 1, "exit %d: %s", rc, err);
	cr_expect_not_null(strstr(err, "Address already in use"), "%s", err);
	cr_expect_eq(strchr(err, '\n'), err + strlen(err) - 1, "not one line: %s", err);
	th_server_stop(&s, SIGTERM);
}

MODEL_TEST(bad_usage_exits_2_with_one_line, T_OPTS)
{
	/* The options are parsed before a model is chosen, by one parser:
	 * under valgrind, 14 server starts a model were 50 s of the step for
	 * the same code, and the first model's run checks its memory. */
	if (getenv("ECHOLAB_UNDER_VALGRIND") && param->index > 0)
		cr_skip_test("under valgrind the options' parser is checked with the first model only (the same "
			     "code for every model)");
	const char *cases[][4] = {
		{"--port", "70000"},      {"--port", "12x"},       {"--backlog", "-1"},
		{"--max-line", "0"},      {"--max-line", "1048577"}, {"--max-conns", "many"},
		{"--idle-timeout", "-1"}, {"--idle-timeout", "soon"}, {"--workers", "0"},
		{"--frobnicate"},         {"stray"},               {"--bind", "not-an-address"},
		{"--processes", "0"},     {"--processes", "65"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[512];
		int rc = th_server_run(err, sizeof(err), "--model", param->name, "--port", "0", cases[i][0],
				    cases[i][1], NULL);
		/* A bad --bind is only found when binding: a runtime error. */
		int want = strcmp(cases[i][0], "--bind") == 0 ? 1 : 2;
		cr_expect_eq(rc, want, "%s %s: exit %d (%s)", cases[i][0], cases[i][1] ? cases[i][1] : "",
			     rc, err);
		cr_expect(strncmp(err, "echolab-server: ", 16) == 0 &&
				  strchr(err, '\n') == err + strlen(err) - 1,
			  "%s: not one line: %s", cases[i][0], err);
	}
}

/* --processes is for the event-driven models; the others are told so. */
MODEL_TEST(processes_only_for_event_models, T_OPTS)
{
	char err[512];
	int rc = th_server_run(err, sizeof(err), "--model", param->name, "--port", "0", "--processes", "2", "--help",
			       NULL);
	if (th_model_has(param, EL_TRAIT_EVENT_DRIVEN)) {
		cr_expect_eq(rc, 0, "%s: %s", param->name, err);
		return;
	}
	rc = th_server_run(err, sizeof(err), "--model", param->name, "--port", "0", "--processes", "2", NULL);
	cr_expect_eq(rc, 2, "%s: exit %d (%s)", param->name, rc, err);
	char want[160];
	snprintf(want, sizeof(want),
		 "echolab-server: --processes runs an event-driven model as several processes; %s is not one (see "
		 "--list-models)\n",
		 param->name);
	cr_expect_str_eq(err, want);
}

Test(conformance, usage_without_model)
{
	char err[512];
	cr_expect_eq(th_server_run(err, sizeof(err), NULL, NULL), 2);
	cr_expect_not_null(strstr(err, "--model"), "%s", err);
	cr_expect_eq(th_server_run(err, sizeof(err), "--model", "teleport", NULL), 2);
	cr_expect_not_null(strstr(err, "teleport"), "%s", err);
	cr_expect_eq(th_server_run(err, sizeof(err), "--help", NULL), 0);
	cr_expect_eq(th_server_run(err, sizeof(err), "--list-models", NULL), 0);
}

/* The server raises its soft fd limit to the hard one; when even that is
 * below what --max-conns needs, it says so on stderr, after its ready
 * line, and still serves. */
Test(conformance, fd_limit_below_max_conns_is_said, T_OPTS)
{
	if (getenv("ECHOLAB_UNDER_VALGRIND"))
		cr_skip_test("valgrind shows the server limits of its own, not the 256 set here");
	struct th_server s;
	struct th_server_opts o = {.nofile = 256};
	th_server_start_with(&s, &o, "epoll", "--max-conns", "1000", NULL);
	char line[256];
	size_t n = 0;
	int64_t deadline = el_io_now_ms() + 5000LL * th_slow_factor();
	while (n < sizeof(line) - 1) {
		struct pollfd pfd = {.fd = s.stderr_fd, .events = POLLIN};
		cr_assert_gt(el_io_poll(&pfd, 1, deadline, true), 0, "no line after the ready line");
		cr_assert_eq(read(s.stderr_fd, line + n, 1), 1);
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	long limit = -1;
	int end = 0;
	sscanf(line, "echolab-server: RLIMIT_NOFILE is %ld (hard limit), lower than --max-conns 1000 "
		     "needs; accepting pauses when fds run out%n",
	       &limit, &end);
	cr_expect(end == (int)n && limit == 256, "not the fd-limit line: %s", line);
	struct th_client c;
	th_client_open(&c, &s);
	th_client_send_str(&c, "still serving\n");
	th_client_expect_echo(&c, "still serving", 13);
	th_client_close(&c);
	th_server_stop(&s, SIGTERM);
}
