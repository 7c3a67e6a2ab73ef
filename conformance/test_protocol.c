/* Every behaviour of docs/protocol.md, checked against the real server
 * binary, once per model that `echolab-server --list-models` prints. */
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
	struct server s;
	server_start(&s, param->name, "--backlog", "7", NULL);
	regex_t re;
	char pattern[128];
	snprintf(pattern, sizeof(pattern),
		 "^listening on 127\\.0\\.0\\.1:[1-9][0-9]* model=%s backlog=7$", param->name);
	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	cr_expect_eq(regexec(&re, s.ready, 0, NULL, 0), 0, "ready line: %s", s.ready);
	regfree(&re);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(basic_echo_names_time_address_and_port, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, NULL);
	struct client c;
	client_open(&c, &s);
	client_send_str(&c, "hello\n");
	uint8_t *line;
	size_t n = client_line(&c, &line, 5000);
	struct el_reply r;
	cr_assert_eq(el_reply_parse(line, n, &r), 0, "%s", line);
	cr_expect_str_eq(r.addr, "127.0.0.1");
	cr_expect_eq(r.port, c.local_port);
	cr_expect(r.msg_len == 5 && memcmp(r.msg, "hello", 5) == 0);
	/* Exactly one space between fields, one LF at the end. */
	char want_tail[64];
	snprintf(want_tail, sizeof(want_tail), "] [127.0.0.1] [%u] [hello]\n", c.local_port);
	cr_expect_str_eq((char *)line + 1 + EL_TIME_LEN, want_tail);
	free(line);
	client_send_str(&c, "world\n");
	client_expect_echo(&c, "world", 5);
	client_close(&c);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(crlf_and_cr_inside, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, NULL);
	struct client c;
	client_open(&c, &s);
	client_send_str(&c, "dos\r\nin\rside\nx\r\r\n\r\n");
	client_expect_echo(&c, "dos", 3);
	client_expect_echo(&c, "in\rside", 7);
	client_expect_echo(&c, "x\r", 2);
	client_expect_echo(&c, "", 0);
	client_close(&c);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(empty_message, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, NULL);
	struct client c;
	client_open(&c, &s);
	client_send_str(&c, "\n\n");
	client_expect_echo(&c, "", 0);
	client_expect_echo(&c, "", 0);
	client_close(&c);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(brackets_and_spaces_in_message, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, NULL);
	struct client c;
	client_open(&c, &s);
	const char *msgs[] = {"]", "[", "[a] [b]", "x]", " ] [ ", "[[[]]]"};
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		client_send(&c, msgs[i], strlen(msgs[i]));
		client_send_str(&c, "\n");
		client_expect_echo(&c, msgs[i], strlen(msgs[i]));
	}
	client_close(&c);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(all_byte_values, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, NULL);
	struct client c;
	client_open(&c, &s);
	uint8_t msg[256];
	size_t n = 0;
	for (int b = 0; b < 256; b++)
		if (b != '\n')
			msg[n++] = (uint8_t)b;
	msg[n] = '\n';
	client_send(&c, msg, n + 1);
	client_expect_echo(&c, msg, n);
	client_close(&c);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(pipelined_1000_in_order, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, NULL);
	struct client c;
	client_open(&c, &s);
	char *all = malloc(1000 * 16);
	size_t len = 0;
	for (int i = 0; i < 1000; i++)
		len += (size_t)sprintf(all + len, "msg-%d\n", i);
	client_send(&c, all, len);
	free(all);
	struct timespec last = {0, 0};
	for (int i = 0; i < 1000; i++) {
		char want[16];
		int wn = sprintf(want, "msg-%d", i);
		uint8_t *line;
		size_t n = client_line(&c, &line, 5000);
		struct el_reply r;
		cr_assert_eq(el_reply_parse(line, n, &r), 0, "%s", line);
		cr_assert(r.msg_len == (size_t)wn && memcmp(r.msg, want, (size_t)wn) == 0,
			  "reply %d out of order: %s", i, line);
		cr_assert(r.time.tv_sec > last.tv_sec ||
				  (r.time.tv_sec == last.tv_sec && r.time.tv_nsec >= last.tv_nsec),
			  "TIME went back at reply %d", i);
		last = r.time;
		free(line);
	}
	client_close(&c);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(message_split_byte_by_byte, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, NULL);
	struct client c;
	client_open(&c, &s);
	const char *text = "split into bytes\r\n";
	for (const char *p = text; *p; p++) {
		client_send(&c, p, 1);
		usleep(2000);
	}
	client_expect_echo(&c, "split into bytes", 16);
	client_close(&c);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(max_line_error_and_recovery, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, "--max-line", "16", NULL);
	struct client c;
	client_open(&c, &s);
	uint8_t *line;

	client_send_str(&c, "0123456789abcdef\n"); /* exactly 16 */
	client_expect_echo(&c, "0123456789abcdef", 16);
	client_send_str(&c, "0123456789abcdef\r\n"); /* 16 with CRLF */
	client_expect_echo(&c, "0123456789abcdef", 16);
	client_send_str(&c, "0123456789abcdefg\n"); /* 17 */
	client_line(&c, &line, 5000);
	cr_expect_str_eq((char *)line, "! line-too-long 16\n");
	free(line);
	client_send_str(&c, "after\n");
	client_expect_echo(&c, "after", 5);

	/* 100 KiB in many writes: one error, sent before the line ends. */
	char chunk[1024];
	memset(chunk, 'z', sizeof(chunk));
	client_send(&c, chunk, sizeof(chunk));
	client_line(&c, &line, 5000);
	cr_expect_str_eq((char *)line, "! line-too-long 16\n");
	free(line);
	for (int i = 0; i < 100; i++)
		client_send(&c, chunk, sizeof(chunk));
	client_send_str(&c, "tail of the long line\nrecovered\n");
	client_expect_echo(&c, "recovered", 9);
	client_close(&c);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(partial_message_at_eof_is_answered_then_closed, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, NULL);
	struct client c;
	client_open(&c, &s);
	client_send_str(&c, "first\nno newline");
	shutdown(c.fd, SHUT_WR);
	client_expect_echo(&c, "first", 5);
	client_expect_echo(&c, "no newline", 10);
	client_expect_eof(&c, 5000);
	client_close(&c);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(normal_close_gets_every_reply_then_fin, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, NULL);
	struct client c;
	client_open(&c, &s);
	char *all = malloc(2000 * 16);
	size_t len = 0;
	for (int i = 0; i < 2000; i++)
		len += (size_t)sprintf(all + len, "m%d\n", i);
	client_send(&c, all, len);
	free(all);
	shutdown(c.fd, SHUT_WR);
	for (int i = 0; i < 2000; i++) {
		char want[16];
		int wn = sprintf(want, "m%d", i);
		client_expect_echo(&c, want, (size_t)wn);
	}
	client_expect_eof(&c, 5000);
	client_close(&c);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(client_reset_disturbs_nobody, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, NULL);
	for (int round = 0; round < 20; round++) {
		struct client a;
		client_open(&a, &s);
		client_send_str(&a, "before reset\n");
		client_expect_echo(&a, "before reset", 12);
		/* Unread and unsent bytes both ways, then RST. */
		client_send_str(&a, "x\ny\nz\npartial");
		client_reset(&a);
	}
	struct client b;
	client_open(&b, &s);
	client_send_str(&b, "still here\n");
	client_expect_echo(&b, "still here", 10);
	client_close(&b);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(log_escapes_and_prefixes_lines, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, NULL);
	struct client c;
	client_open(&c, &s);
	const char msg[] = "a\x1b[31mred\\ \x01\x7f\xff\r\n";
	client_send(&c, msg, sizeof(msg) - 1);
	client_expect_echo(&c, msg, sizeof(msg) - 3);
	client_send_str(&c, "plain [text]\n");
	uint8_t *reply;
	client_line(&c, &reply, 5000);
	/* A fake log line inside a message stays inside its line. */
	client_send_str(&c, "x\r# close forged\n");
	client_expect_echo(&c, "x\r# close forged", 16);
	client_close(&c);
	server_stop(&s, SIGTERM);

	char *log = server_log(&s, NULL);
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
	struct server s;
	server_start(&s, param->name, "--quiet", NULL);
	struct client c;
	client_open(&c, &s);
	client_send_str(&c, "hush\n");
	client_expect_echo(&c, "hush", 4);
	client_close(&c);
	server_stop(&s, SIGTERM);
	size_t len;
	char *log = server_log(&s, &len);
	cr_expect_eq(len, 0, "--quiet still logged: %s", log);
	free(log);
}

/* Writes to a client that reads nothing until the server has stopped
 * reading for 1 s (at most 64 MiB). Returns the bytes sent. */
static size_t flood_without_reading(struct client *a, const char *model)
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

/* A client that sends without reading: the server stops reading it once
 * 1 MiB of replies wait, so its memory stays bounded; others are served
 * meanwhile (or, for a sequential model, as soon as that client leaves). */
static void never_reader(const char *model, bool raw)
{
	struct server s;
	if (raw)
		server_start(&s, model, "--raw", NULL);
	else
		server_start(&s, model, NULL);
	struct client warm;
	client_open(&warm, &s);
	client_send_str(&warm, "warm up\n");
	uint8_t *line;
	client_line(&warm, &line, 5000);
	free(line);
	client_close(&warm);
	long base = server_rss_kib(&s);

	struct client a;
	client_open(&a, &s);
	size_t sent = flood_without_reading(&a, model);
	long grown = server_rss_kib(&s) - base;
	cr_log_info("%s%s: sent %zu KiB to a non-reader; server RSS grew %ld KiB", model,
		    raw ? " --raw" : "", sent >> 10, grown);
	/* Unbounded buffering would grow by the whole flood (tens of MiB).
	 * Under valgrind a forked child's first touches also copy valgrind's
	 * own shadow memory (about 50 MiB seen), hence the wider bound. */
	long bound = (slow_factor() > 1 ? 128 : 16) * 1024;
	cr_expect_lt(grown, bound, "server RSS grew %ld KiB for one non-reading client", grown);

	struct client b;
	client_open(&b, &s);
	client_send_str(&b, "next\n");
	if (model_is_sequential(model))
		client_reset(&a);
	if (raw) {
		size_t n = client_line(&b, &line, 5000);
		cr_expect(n == 5 && memcmp(line, "next\n", 5) == 0, "raw echo: %s", line);
		free(line);
	} else {
		client_expect_echo(&b, "next", 4);
	}
	client_close(&b);
	if (!model_is_sequential(model))
		client_reset(&a);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(client_that_never_reads_is_bounded, T_OPTS)
{
	never_reader(param->name, false);
}

MODEL_TEST(raw_client_that_never_reads_is_bounded, T_OPTS)
{
	never_reader(param->name, true);
}

/* On SIGTERM every message the server finished reading (and so logged) is
 * answered before the connection closes. The client has filled the
 * server's output, so replies are waiting when the signal comes. */
MODEL_TEST(stop_answers_every_message_already_read, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, NULL);
	struct client a;
	client_open(&a, &s);
	flood_without_reading(&a, param->name);
	server_signal(&s, SIGTERM);
	el_io_set_nonblock(a.fd, false);
	long replies = 0;
	for (;;) {
		uint8_t *line = NULL;
		ssize_t n = client_try_line(&a, &line, 5000);
		if (n <= 0)
			break;
		cr_assert_eq(line[0], '[', "not an echo: %s", line);
		free(line);
		replies++;
	}
	server_wait(&s, SIGTERM);
	char *log = server_log(&s, NULL);
	long logged = 0;
	for (char *p = log; (p = strchr(p, '\n')); p++)
		logged += p[1] == '[';
	logged += log[0] == '[';
	free(log);
	cr_log_info("%s: %ld messages read before the stop, %ld answered", param->name, logged, replies);
	cr_expect_gt(replies, 0);
	cr_expect_eq(replies, logged, "%ld messages were read but %ld answered", logged, replies);
	client_close(&a);
}

MODEL_TEST(max_conns_answers_busy_and_closes, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, "--max-conns", "2", NULL);
	struct client a, b, c;
	client_open(&a, &s);
	client_send_str(&a, "a\n");
	client_expect_echo(&a, "a", 1);
	client_open(&b, &s);
	usleep(100000);
	client_open(&c, &s);
	uint8_t *line;
	client_line(&c, &line, 5000);
	cr_expect_str_eq((char *)line, "! busy\n");
	free(line);
	client_expect_eof(&c, 5000);
	client_close(&c);

	/* Once a leaves, b is (still, or now) served. */
	client_close(&a);
	client_send_str(&b, "b\n");
	client_expect_echo(&b, "b", 1);
	client_close(&b);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(idle_timeout_closes_idle_connections_only, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, "--idle-timeout", "1", NULL);
	/* Active for 2 s, never idle for 1 s: stays open. */
	struct client a;
	client_open(&a, &s);
	for (int i = 0; i < 8; i++) {
		client_send_str(&a, "tick\n");
		client_expect_echo(&a, "tick", 4);
		usleep(250000);
	}
	client_close(&a);

	struct client b;
	client_open(&b, &s);
	client_send_str(&b, "then idle\n");
	client_expect_echo(&b, "then idle", 9);
	int64_t t0 = el_io_now_ms();
	client_expect_eof(&b, 4000);
	int64_t waited = el_io_now_ms() - t0;
	cr_expect_geq(waited, 900, "closed after %lld ms, before the 1 s timeout", (long long)waited);
	client_close(&b);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(raw_mode_echoes_1mib_of_random_bytes, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, "--raw", NULL);
	struct client c;
	client_open(&c, &s);
	size_t total = 1 << 20;
	uint8_t *out = malloc(total), *in = malloc(total);
	unsigned seed = 42;
	for (size_t i = 0; i < total; i++)
		out[i] = (uint8_t)rand_r(&seed);
	el_io_set_nonblock(c.fd, true);
	size_t sent = 0, got = 0;
	int64_t deadline = el_io_now_ms() + 20000LL * slow_factor();
	while (got < total && el_io_now_ms() < deadline) {
		struct pollfd pfd = {.fd = c.fd, .events = (short)(POLLIN | (sent < total ? POLLOUT : 0))};
		el_io_poll(&pfd, 1, el_io_now_ms() + 1000, true);
		if (sent < total && (pfd.revents & POLLOUT)) {
			ssize_t n = send(c.fd, out + sent, total - sent > 65536 ? 65536 : total - sent, 0);
			if (n > 0)
				sent += (size_t)n;
		}
		if (pfd.revents & POLLIN) {
			ssize_t n = recv(c.fd, in + got, total - got, 0);
			cr_assert_gt(n, 0, "raw echo ended after %zu bytes", got);
			got += (size_t)n;
		}
	}
	cr_assert_eq(got, total, "got %zu of %zu bytes back", got, total);
	cr_expect_eq(memcmp(in, out, total), 0, "raw echo is not byte-exact");
	shutdown(c.fd, SHUT_WR);
	el_io_set_nonblock(c.fd, false);
	client_expect_eof(&c, 5000);
	free(in);
	free(out);
	client_close(&c);
	server_stop(&s, SIGTERM);
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
	struct server s;
	server_start(&s, param->name, "--bind", "::1", NULL);
	cr_expect_eq(strncmp(s.ready, "listening on [::1]:", 19), 0, "%s", s.ready);
	struct client c;
	client_open_host(&c, "::1", s.port);
	client_send_str(&c, "six\n");
	uint8_t *line;
	size_t n = client_line(&c, &line, 5000);
	struct el_reply r;
	cr_assert_eq(el_reply_parse(line, n, &r), 0);
	cr_expect_str_eq(r.addr, "::1");
	cr_expect_eq(r.port, c.local_port);
	free(line);
	client_close(&c);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(dual_stack_shows_mapped_ipv4_as_ipv4, T_OPTS)
{
	if (!have_ipv6_loopback())
		cr_skip_test("this machine has no IPv6 (needed for a dual-stack socket)");
	struct server s;
	server_start(&s, param->name, "--bind", "::", NULL);
	struct client c;
	client_open(&c, &s);
	client_send_str(&c, "four\n");
	uint8_t *line;
	size_t n = client_line(&c, &line, 5000);
	struct el_reply r;
	cr_assert_eq(el_reply_parse(line, n, &r), 0);
	cr_expect_str_eq(r.addr, "127.0.0.1", "%s", line);
	free(line);
	client_close(&c);
	server_stop(&s, SIGTERM);
}

static void stop_with_clients(const char *model, int sig)
{
	struct server s;
	server_start(&s, model, NULL);
	struct client a;
	client_open(&a, &s);
	client_send_str(&a, "busy client\n");
	client_expect_echo(&a, "busy client", 11);
	struct client b;
	client_open(&b, &s); /* connected, maybe not yet accepted */
	server_stop(&s, sig);
	client_expect_eof(&a, 2000);
	client_close(&a);
	client_close(&b);
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
	struct server s;
	server_start(&s, param->name, NULL);
	struct client a, b;
	client_open(&a, &s);
	client_send_str(&a, "first\n");
	client_expect_echo(&a, "first", 5);
	client_open(&b, &s);
	client_send_str(&b, "second\n");
	if (model_is_sequential(param->name)) {
		uint8_t *line = NULL;
		ssize_t n = client_try_line(&b, &line, 500);
		cr_expect_eq(n, -ETIMEDOUT, "a sequential model served a second client while the first stayed");
		if (n > 0)
			free(line);
		client_send_str(&a, "still first\n");
		client_expect_echo(&a, "still first", 11);
		client_close(&a);
		client_expect_echo(&b, "second", 6);
	} else {
		client_expect_echo(&b, "second", 6);
		client_send_str(&a, "still first\n");
		client_expect_echo(&a, "still first", 11);
		client_close(&a);
	}
	client_close(&b);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(backlog_reaches_listen, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, "--backlog", "3", NULL);
	/* ss shows a listening socket's backlog in its Send-Q column. */
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "ss -Hltn 'sport = :%u' 2>/dev/null", s.port);
	FILE *p = popen(cmd, "r");
	char line[256] = "";
	if (!p || !fgets(line, sizeof(line), p)) {
		if (p)
			pclose(p);
		server_stop(&s, SIGTERM);
		cr_skip_test("ss (iproute2) is not available to read the backlog");
	}
	pclose(p);
	char state[32];
	int recvq, sendq;
	cr_assert_eq(sscanf(line, "%31s %d %d", state, &recvq, &sendq), 3, "ss said: %s", line);
	cr_expect_eq(sendq, 3, "listen backlog is %d, not 3", sendq);
	server_stop(&s, SIGTERM);
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
	struct server s;
	server_start(&s, param->name, "--port", port, NULL);
	cr_expect_eq(s.port, ntohs(sa.sin_port));
	server_stop(&s, SIGTERM);
}

MODEL_TEST(address_in_use_exits_1, T_OPTS)
{
	struct server s;
	server_start(&s, param->name, NULL);
	char port[8], err[512];
	snprintf(port, sizeof(port), "%u", s.port);
	int rc = server_run(err, sizeof(err), "--model", param->name, "--port", port, NULL);
	cr_expect_eq(rc, 1, "exit %d: %s", rc, err);
	cr_expect_not_null(strstr(err, "Address already in use"), "%s", err);
	cr_expect_eq(strchr(err, '\n'), err + strlen(err) - 1, "not one line: %s", err);
	server_stop(&s, SIGTERM);
}

MODEL_TEST(bad_usage_exits_2_with_one_line, T_OPTS)
{
	const char *cases[][4] = {
		{"--port", "70000"},      {"--port", "12x"},       {"--backlog", "-1"},
		{"--max-line", "0"},      {"--max-line", "1048577"}, {"--max-conns", "many"},
		{"--idle-timeout", "-1"}, {"--idle-timeout", "soon"}, {"--workers", "0"},
		{"--frobnicate"},         {"stray"},               {"--bind", "not-an-address"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[512];
		int rc = server_run(err, sizeof(err), "--model", param->name, "--port", "0", cases[i][0],
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

Test(conformance, usage_without_model)
{
	char err[512];
	cr_expect_eq(server_run(err, sizeof(err), NULL, NULL), 2);
	cr_expect_not_null(strstr(err, "--model"), "%s", err);
	cr_expect_eq(server_run(err, sizeof(err), "--model", "teleport", NULL), 2);
	cr_expect_not_null(strstr(err, "teleport"), "%s", err);
	cr_expect_eq(server_run(err, sizeof(err), "--help", NULL), 0);
	cr_expect_eq(server_run(err, sizeof(err), "--list-models", NULL), 0);
}

/* The server raises its soft fd limit to the hard one; when even that is
 * below what --max-conns needs, it says so on stderr, after its ready
 * line, and still serves. */
Test(conformance, fd_limit_below_max_conns_is_said, T_OPTS)
{
	if (getenv("ECHOLAB_UNDER_VALGRIND"))
		cr_skip_test("valgrind shows the server limits of its own, not the 256 set here");
	struct server s;
	struct server_opts o = {.nofile = 256};
	server_start_with(&s, &o, "epoll", "--max-conns", "1000", NULL);
	char line[256];
	size_t n = 0;
	int64_t deadline = el_io_now_ms() + 5000LL * slow_factor();
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
	struct client c;
	client_open(&c, &s);
	client_send_str(&c, "still serving\n");
	client_expect_echo(&c, "still serving", 13);
	client_close(&c);
	server_stop(&s, SIGTERM);
}
