/* echolab-load and echolab-monitor, run as programs against the real
 * server (and, for the stalled-server case, against a server this test
 * plays itself). */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "io.h"

/* One timeout for every test: with timeouts of different lengths running
 * side by side (--jobs=2), Criterion 2.4.1's timeout bookkeeping (BoxFort's
 * request list) leaked requests, which LeakSanitizer and valgrind reported
 * as leaks of the test runner. */
#define T_OPTS .timeout = 120

static const char *tool(const char *env)
{
	const char *p = getenv(env);
	cr_assert_not_null(p, "%s is not set (run through meson test)", env);
	return p;
}

static char out[1 << 16], err[4096];

/* A scratch directory for output files, removed by the caller. */
static void scratch(char *dir, size_t len, const char *name)
{
	snprintf(dir, len, "/tmp/echolab-load-%s.XXXXXX", name);
	cr_assert_not_null(mkdtemp(dir));
}

static void scratch_remove(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* The number after "key": in a JSON text (keys are unique in ours). */
static double json_num(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	const char *p = strstr(json, pat);
	cr_assert_not_null(p, "no %s in %s", key, json);
	return strtod(p + strlen(pat), NULL);
}

static int count_lines(const char *text)
{
	int n = 0;
	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* A test of the generator's own timing runs alone (the load-alone suite):
 * in the shared run it skips, saying where it runs. */
static void alone_or_skip(void)
{
	if (getenv("ECHOLAB_LOAD_SHARED"))
		cr_skip_test("judges the generator's timing: runs in the load-alone suite, with nothing beside it");
}

static const char *port_str(unsigned port)
{
	static char buf[8];
	snprintf(buf, sizeof(buf), "%u", port);
	return buf;
}

/* A port on 127.0.0.1 that nothing listens on (bound, then released). */
static unsigned dead_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t len = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	close(fd);
	return ntohs(a.sin_port);
}

Test(load, count_is_exact_and_every_rtt_of_the_first_connection_is_logged, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], json[96], log[96];
	scratch(dir, sizeof(dir), "count");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	snprintf(log, sizeof(log), "%s/rtt.csv", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "7", "--count", "50", "--quiet", "--json",
			     json, "--rtt-log", log, NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *j = slurp(json);
	cr_expect_eq(json_num(j, "messages"), 350, "%s", j);
	cr_expect_eq(json_num(j, "total"), 0, "no errors: %s", j);
	cr_expect_eq(json_num(j, "count"), 350, "every RTT in the histogram: %s", j);
	cr_expect_leq(json_num(j, "min"), json_num(j, "p50"));
	cr_expect_leq(json_num(j, "p50"), json_num(j, "p99"));
	cr_expect_leq(json_num(j, "p99"), json_num(j, "max") * 1.01);
	cr_expect_float_eq(json_num(j, "variance"), json_num(j, "stddev") * json_num(j, "stddev"),
			   1e-3 * json_num(j, "variance") + 1e-3);

	/* The first connection's 50 RTTs, in order, times rising. */
	const char *csv = slurp(log);
	cr_assert_eq(strncmp(csv, "conn,seq,t_send_us,rtt_us\n", 26), 0, "%s", csv);
	cr_expect_eq(count_lines(csv), 51, "%s", csv);
	const char *p = strchr(csv, '\n') + 1;
	long last_t = -1;
	for (int i = 0; i < 50 && *p; i++) {
		long conn, seq, t, rtt;
		cr_assert_eq(sscanf(p, "%ld,%ld,%ld,%ld", &conn, &seq, &t, &rtt), 4, "row %d", i);
		cr_expect_eq(conn, 0);
		cr_expect_eq(seq, i);
		cr_expect_gt(t, last_t, "send times rise: row %d", i);
		cr_expect_gt(rtt, 0);
		last_t = t;
		p = strchr(p, '\n') + 1;
	}
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

Test(load, rtt_log_all_has_every_message_of_every_connection, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "thread", "--quiet", NULL);
	char dir[64], log[96];
	scratch(dir, sizeof(dir), "all");
	snprintf(log, sizeof(log), "%s/rtt.csv", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "5", "--threads", "2", "--count", "40",
			     "--quiet", "--rtt-log", log, "--rtt-log-all", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *csv = slurp(log);
	cr_expect_eq(count_lines(csv), 1 + 5 * 40);
	int seen[5][40] = {{0}};
	const char *p = strchr(csv, '\n') + 1;
	while (*p) {
		long conn, seq, t, rtt;
		cr_assert_eq(sscanf(p, "%ld,%ld,%ld,%ld", &conn, &seq, &t, &rtt), 4);
		cr_assert(conn >= 0 && conn < 5 && seq >= 0 && seq < 40, "row %ld,%ld", conn, seq);
		seen[conn][seq]++;
		p = strchr(p, '\n') + 1;
	}
	for (int c = 0; c < 5; c++)
		for (int q = 0; q < 40; q++)
			cr_expect_eq(seen[c][q], 1, "conn %d seq %d logged %d times", c, q, seen[c][q]);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

Test(load, text_report_has_every_figure, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "poll", "--quiet", NULL);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "3", "--count", "10", "--percentiles",
			     "50,99.99", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	cr_expect_not_null(strstr(out, "messages  30 ("), "%s", out);
	cr_expect_not_null(strstr(out, "errors    0 ("), "%s", out);
	for (const char *w = "min\0mean\0stddev\0variance\0max\0p50 \0p99.99 \0"; *w; w += strlen(w) + 1)
		cr_expect_not_null(strstr(out, w), "no '%s' in %s", w, out);
	cr_expect_null(strstr(out, "p90"), "only the chosen percentiles: %s", out);
	cr_expect_null(strstr(out, "\r"), "no progress line when not a terminal");
	th_server_stop(&s, SIGTERM);
}

Test(load, raw_mode_against_a_raw_server, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--raw", "--quiet", NULL);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "4", "--count", "25", "--size", "300",
			     "--raw", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	cr_expect_not_null(strstr(out, "messages  100 ("), "%s", out);
	th_server_stop(&s, SIGTERM);
}

/* An annotated check against a raw server sees replies that do not parse;
 * a raw check against an annotated server sees replies that are not the
 * bytes sent. Both are wrong replies, counted, exit 1. */
Test(load, wrong_replies_are_counted_both_ways, T_OPTS)
{
	struct th_server raw, ann;
	th_server_start(&raw, "thread", "--raw", "--quiet", NULL);
	th_server_start(&ann, "thread", "--quiet", NULL);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(raw.port), "--conns", "3", "--count", "5", NULL);
	cr_expect_eq(rc, 1, "exit %d: %s%s", rc, out, err);
	cr_expect_not_null(strstr(out, "wrong 3"), "one wrong reply ends each connection: %s", out);
	cr_expect_not_null(strstr(out, "messages  0 ("), "%s", out);
	rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			 port_str(ann.port), "--conns", "2", "--count", "5", "--raw", NULL);
	cr_expect_eq(rc, 1, "exit %d: %s%s", rc, out, err);
	cr_expect_not_null(strstr(out, "wrong 2"), "%s", out);
	th_server_stop(&raw, SIGTERM);
	th_server_stop(&ann, SIGTERM);
}

Test(load, busy_server_is_counted, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "thread", "--max-conns", "2", "--quiet", NULL);
	struct th_client a, b;
	th_client_open(&a, &s);
	th_client_open(&b, &s);
	th_client_send_str(&a, "a\n");
	th_client_send_str(&b, "b\n");
	th_client_expect_echo(&a, "a", 1);
	th_client_expect_echo(&b, "b", 1); /* both slots are taken now */
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "3", "--count", "5", NULL);
	cr_expect_eq(rc, 1, "exit %d: %s%s", rc, out, err);
	cr_expect_not_null(strstr(out, "busy 3"), "%s", out);
	cr_expect_not_null(strstr(out, "none: no reply was measured"), "%s", out);
	th_client_close(&a);
	th_client_close(&b);
	th_server_stop(&s, SIGTERM);
}

Test(load, refused_connections_are_counted_and_end_a_counted_run, T_OPTS)
{
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(dead_port()), "--conns", "4", "--count", "5", NULL);
	cr_expect_eq(rc, 1, "exit %d: %s%s", rc, out, err);
	cr_expect_not_null(strstr(err, "(refused 4 times)"), "%s", err);
}

/* Nothing listening: one line says there is no server, where, and how
 * often it was refused; the run is invalid (it measured nothing) with the
 * server's reason, never the generator's; exit 1. */
Test(load, no_server_is_one_line_and_not_the_generators_doing, T_OPTS)
{
	char dir[64], json[96], want[96];
	scratch(dir, sizeof(dir), "noserver");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	unsigned port = dead_port();
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(port), "--conns", "3", "--count", "2", "--json", json, NULL);
	cr_expect_eq(rc, 1, "exit %d: %s%s", rc, out, err);
	cr_expect_str_empty(out, "%s", out);
	cr_expect_eq(count_lines(err), 1, "one line: %s", err);
	snprintf(want, sizeof(want), "echolab-load: no server: every connection was refused at 127.0.0.1:%u ", port);
	cr_expect_not_null(strstr(err, want), "%s", err);
	cr_expect_null(strstr(err, "generator"), "%s", err);
	const char *j = slurp(json);
	cr_expect_not_null(strstr(j, "\"valid\": false"), "%s", j);
	cr_expect_not_null(strstr(j, "\"invalid_reasons\": [\"no connection was accepted\"]"), "%s", j);
	cr_expect_eq(json_num(j, "refused"), 3, "%s", j);
	scratch_remove(dir);
}

/* A timed run keeps reopening what fails: against nothing it counts a
 * refusal about every 100 ms per connection and ends on time. */
Test(load, timed_run_against_nothing_ends_on_time, T_OPTS)
{
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(dead_port()), "--conns", "2", "--duration", "1", NULL);
	cr_expect_eq(rc, 1, "exit %d: %s%s", rc, out, err);
	unsigned long refused = 0;
	const char *p = strstr(err, "(refused ");
	cr_assert_not_null(p, "%s", err);
	refused = strtoul(p + 9, NULL, 10);
	cr_expect(refused >= 4 && refused <= 2 * 12 * (unsigned long)th_slow_factor(),
		  "refused %lu: %s", refused, err);
}

Test(load, open_loop_count_and_schedule, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], json[96];
	scratch(dir, sizeof(dir), "open");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "4", "--rate", "100", "--count", "20",
			     "--quiet", "--json", json,
			     /* The schedule is checked here, not the generator's
			      * validity (its sends run late under valgrind). */
			     "--allow-invalid", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *j = slurp(json);
	cr_expect_eq(json_num(j, "messages"), 80, "%s", j);
	cr_expect_eq(json_num(j, "rate_per_conn"), 100, "%s", j);
	cr_expect_not_null(strstr(j, "\"loop\": \"open\""), "%s", j);
	/* 20 messages 10 ms apart cannot all be answered before 190 ms. */
	cr_expect_geq(json_num(j, "window_s"), 0.19, "%s", j);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* The open loop wakes on its sends' clock, not on each reply (a wake-up
 * serves a batch), yet each reply is timed by its arrival: at 15 msgs/s
 * (67 ms apart) a reply read at the next wake-up would seem 50 ms late or
 * more (the loop's tick), every one of them. Timed by its arrival, a
 * reply is as late as the server and the machine made it: beside a CPU
 * hog one reply in 20 took 39 to 50 ms in 6 runs of 15 (flake hunt,
 * 2026-12-02), so the test asks that most of them, not every one, came
 * back within 10 ms.
 *
 * A run whose sends went out late measures the generator, not the reply's
 * timing: an RTT counts from the send's intended time. Once in 20 runs
 * beside the other load tests and a CPU hog, the first 11 replies came
 * 30 to 684 ms late in a run that took no longer than the others (1.42 s
 * against 1.32-1.41 s): the sends due in its first 0.7 s had gone out
 * together, late. The generator reports that itself (lateness_us in its
 * JSON, tested by alone_a_starved_generator_is_invalid...), so a run
 * with a send over 5 ms late is run again, up to three times; the test
 * fails when no run sent on time, saying so. It runs alone (load-alone),
 * as the other tests of the generator's timing do. */
Test(load, alone_open_loop_times_a_reply_by_its_arrival_not_by_the_wake_up, T_OPTS)
{
	alone_or_skip();
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], log[96], json[96];
	scratch(dir, sizeof(dir), "arrival");
	snprintf(log, sizeof(log), "%s/rtt.csv", dir);
	snprintf(json, sizeof(json), "%s/load.json", dir);
	double late_ms = 0;
	int runs = 0;
	do {
		int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
				     port_str(s.port), "--conns", "1", "--rate", "15", "--count", "20", "--quiet",
				     "--rtt-log", log, "--json", json, "--allow-invalid", NULL);
		cr_assert_eq(rc, 0, "exit %d: %s%s", rc, out, err);
		const char *lateness = strstr(slurp(json), "\"lateness_us\"");
		cr_assert_not_null(lateness, "no lateness_us in %s", json);
		late_ms = json_num(lateness, "max") / 1000.0;
	} while (++runs < 3 && late_ms > 5.0 * th_slow_factor());
	cr_assert_leq(late_ms, 5.0 * th_slow_factor(),
		      "the generator sent late in each of %d runs (the last: %.1f ms), so no run measured the replies",
		      runs, late_ms);
	const char *p = strchr(slurp(log), '\n') + 1;
	int rows = 0, quick = 0;
	long worst = 0;
	for (; *p; p = strchr(p, '\n') + 1, rows++) {
		long conn, seq, tsend, rtt;
		cr_assert_eq(sscanf(p, "%ld,%ld,%ld,%ld", &conn, &seq, &tsend, &rtt), 4);
		worst = rtt > worst ? rtt : worst;
		quick += rtt < 10000L * th_slow_factor();
	}
	cr_expect_eq(rows, 20);
	/* The send's own lateness (at most 5 ms, checked above) and the reply. */
	cr_expect_geq(quick, 15,
		      "%d of 20 replies within 10 ms (the worst %ld us, sends at most %.1f ms late, run %d): timed by "
		      "the wake-ups that read them",
		      quick, worst, late_ms, runs);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* A raw echo server that reads nothing for stall_ms after accepting, then
 * echoes everything: the open-loop latency must count the stall for every
 * message scheduled during it (no coordinated omission). */
struct staller {
	int lfd;
	int stall_ms;
};

static void *stall_serve(void *arg)
{
	struct staller *st = arg;
	int fd = accept(st->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	usleep((useconds_t)st->stall_ms * 1000);
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			break;
	close(fd);
	return NULL;
}

Test(load, open_loop_latency_counts_a_stall_from_the_intended_send_time, T_OPTS)
{
	struct staller st = {.lfd = socket(AF_INET, SOCK_STREAM, 0), .stall_ms = 600};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(st.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(st.lfd, 8), 0);
	socklen_t len = sizeof(a);
	getsockname(st.lfd, (struct sockaddr *)&a, &len);
	pthread_t t;
	pthread_create(&t, NULL, stall_serve, &st);
	char dir[64], log[96];
	scratch(dir, sizeof(dir), "stall");
	snprintf(log, sizeof(log), "%s/rtt.csv", dir);
	/* 50 messages 10 ms apart: all of them are due during the stall. */
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(ntohs(a.sin_port)), "--conns", "1", "--rate", "100", "--count",
			     "50", "--raw", "--quiet", "--rtt-log", log,
			     /* the stall is checked, not the generator's validity */
			     "--allow-invalid", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	pthread_join(t, NULL);
	close(st.lfd);
	const char *csv = slurp(log);
	const char *p = strchr(csv, '\n') + 1;
	int rows = 0;
	while (*p) {
		long conn, seq, tsend, rtt;
		cr_assert_eq(sscanf(p, "%ld,%ld,%ld,%ld", &conn, &seq, &tsend, &rtt), 4);
		/* Sent at about seq * 10 ms, answered after the 600 ms stall. */
		long floor_us = 600000 - (seq + 1) * 10000 - 20000;
		cr_expect_geq(rtt, floor_us, "seq %ld: rtt %ld us hides the stall", seq, rtt);
		cr_expect_leq(tsend, seq * 10000 + 50000L * th_slow_factor(), "seq %ld sent late", seq);
		rows++;
		p = strchr(p, '\n') + 1;
	}
	cr_expect_eq(rows, 50);
	scratch_remove(dir);
}

/* Fixed arrivals: a wake-up sends what is due up to the lateness bound
 * early as well as late (decisions 68), and an early send's RTT runs from
 * the send, not from its due time. 20 connections at 100 msgs/s on one
 * loop are due 500 us apart (connection i's phase is 500 * i us, message
 * k due 10 ms after message k - 1), so the wake-up after one send's due
 * time finds the next one within the 1 ms bound. Every row of the RTT log
 * says when its message went: never more than 1 ms before its due time;
 * some before it (the JSON counts them too); and a reply never before its
 * send. With the RTT timed from the due time, no row would be early. (At
 * 1,000 msgs/s, 20,000 in all, a loop under valgrind sends everything
 * late.) Beside a CPU hog it once caught a reply 287 us before its
 * message's due time: marked early while its connection connected, the
 * message went when it was up, before its time, and was timed from it;
 * now no send is marked early on a connection that is not up. */
Test(load, fixed_sends_go_early_within_the_bound_timed_from_the_send, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], log[96], json[96];
	scratch(dir, sizeof(dir), "early");
	snprintf(log, sizeof(log), "%s/rtt.csv", dir);
	snprintf(json, sizeof(json), "%s/load.json", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "20", "--threads", "1", "--rate", "100", "--count", "30",
			     "--quiet", "--rtt-log", log, "--rtt-log-all", "--json", json, "--allow-invalid", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *p = strchr(slurp(log), '\n') + 1;
	int rows = 0, early = 0;
	for (; *p; p = strchr(p, '\n') + 1, rows++) {
		long conn, seq, tsend, rtt;
		cr_assert_eq(sscanf(p, "%ld,%ld,%ld,%ld", &conn, &seq, &tsend, &rtt), 4);
		long due_us = conn * 500 + seq * 10000;
		cr_expect_geq(tsend, due_us - 1000, "conn %ld seq %ld went %ld us early, past the 1 ms bound", conn,
			      seq, due_us - tsend);
		cr_expect_geq(rtt, 0, "conn %ld seq %ld answered %ld us before it went", conn, seq, -rtt);
		early += tsend < due_us;
	}
	cr_expect_eq(rows, 20 * 30);
	cr_expect_gt(early, 0, "no send went before its due time: %d rows", rows);
	const char *lateness = strstr(slurp(json), "\"lateness_us\"");
	cr_assert_not_null(lateness, "no lateness_us in %s", json);
	cr_expect_gt(json_num(lateness, "early_sends"), 0, "%s", lateness);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* A message due while its connection connects goes when the connection
 * is up and is timed from its due time, so it must not go before it: no
 * send is marked early on a connection that is not up. 20 connections at
 * 100 msgs/s (connection i due at 500 * i us) opened at 2,100 a second
 * (connection i at ~476 * i us): most come up after their first message
 * could have been marked early and before it is due. Marked early, it
 * would go at once and its reply come back before its due time. */
Test(load, no_send_goes_early_on_a_connection_that_is_not_up, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], log[96];
	scratch(dir, sizeof(dir), "connecting");
	snprintf(log, sizeof(log), "%s/rtt.csv", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "20", "--threads", "1", "--rate", "100", "--count", "5",
			     "--connect-rate", "2100", "--quiet", "--rtt-log", log, "--rtt-log-all", "--allow-invalid",
			     NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *p = strchr(slurp(log), '\n') + 1;
	int rows = 0;
	for (; *p; p = strchr(p, '\n') + 1, rows++) {
		long conn, seq, tsend, rtt;
		cr_assert_eq(sscanf(p, "%ld,%ld,%ld,%ld", &conn, &seq, &tsend, &rtt), 4);
		cr_expect_geq(rtt, 0, "conn %ld seq %ld answered %ld us before its due time", conn, seq, -rtt);
	}
	cr_expect_eq(rows, 20 * 5);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* A reply's arrival is the kernel's receive stamp, on CLOCK_REALTIME,
 * taken on whichever CPU received it; echolab-load reads its own times
 * on CLOCK_MONOTONIC and turns the stamp into them by the two clocks'
 * offset as it reads them. Where the two disagree, a stamp can land
 * before its message went (a fresh clone's run on a new virtual machine
 * once had replies 270-480 us before their sends). Such a stamp is wrong,
 * and the reply is timed at its read: no RTT is ever negative. The clock
 * shim (testsupport/clockshim.c) runs echolab-load's CLOCK_REALTIME 2 s
 * ahead of the kernel's, so every stamp reads 2 s early; the JSON's
 * window_start_unix shows the shim took. */
Test(load, a_reply_stamped_before_its_send_is_timed_at_its_read, T_OPTS)
{
	const char *shim = getenv("ECHOLAB_CLOCK_SHIM");
	cr_assert_not_null(shim, "ECHOLAB_CLOCK_SHIM is not set (clients/tests/meson.build sets it)");
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], log[96], json[96], asan[512];
	scratch(dir, sizeof(dir), "skew");
	snprintf(log, sizeof(log), "%s/rtt.csv", dir);
	snprintf(json, sizeof(json), "%s/load.json", dir);
	setenv("LD_PRELOAD", shim, 1);
	setenv("ECHOLAB_CLOCK_SKEW_US", "2000000", 1);
	/* gcc's ASan runtime wants to be the first library; the shim asks
	 * nothing of it. */
	const char *asan_opts = getenv("ASAN_OPTIONS");
	snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", asan_opts ? asan_opts : "",
		 asan_opts && *asan_opts ? ":" : "");
	setenv("ASAN_OPTIONS", asan, 1);
	struct timespec t0;
	clock_gettime(CLOCK_REALTIME, &t0);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "10", "--threads", "1", "--rate", "100", "--count", "20",
			     "--quiet", "--rtt-log", log, "--rtt-log-all", "--json", json, "--allow-invalid", NULL);
	unsetenv("LD_PRELOAD");
	unsetenv("ECHOLAB_CLOCK_SKEW_US");
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	double ahead = json_num(slurp(json), "window_start_unix") - ((double)t0.tv_sec + t0.tv_nsec / 1e9);
	cr_assert_gt(ahead, 1.5, "the shim did not take: window_start_unix %.3f s after the test's clock", ahead);
	const char *p = strchr(slurp(log), '\n') + 1;
	int rows = 0;
	for (; *p; p = strchr(p, '\n') + 1, rows++) {
		long conn, seq, tsend, rtt;
		cr_assert_eq(sscanf(p, "%ld,%ld,%ld,%ld", &conn, &seq, &tsend, &rtt), 4);
		cr_expect_geq(rtt, 0, "conn %ld seq %ld answered %ld us before it went", conn, seq, -rtt);
		cr_expect_lt(rtt, 1000000, "conn %ld seq %ld: rtt %ld us", conn, seq, rtt);
	}
	cr_expect_eq(rows, 10 * 20);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* A raw echo server that holds each read for HOLD_US before echoing it, a
 * thread a connection: no reply comes sooner than HOLD_US after its send. */
struct holder {
	int lfd;
	int conns;
};

#define HOLD_US 6000

static void *hold_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		usleep(HOLD_US);
		if (write(fd, buf, (size_t)n) != n)
			break;
	}
	close(fd);
	return NULL;
}

static void *hold_accept(void *arg)
{
	struct holder *h = arg;
	pthread_t t[64];
	int n = 0;
	for (; n < h->conns && n < 64; n++) {
		int fd = accept(h->lfd, NULL, NULL);
		if (fd < 0)
			break;
		pthread_create(&t[n], NULL, hold_conn, (void *)(intptr_t)fd);
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return NULL;
}

/* While four of a connection's messages are in flight, none goes early:
 * the ring that times early sends holds four, and an early send whose
 * time was overwritten before its reply would be timed from its due time
 * (up to 100 us short) and logged at it. Replies held 6 ms keep six or
 * seven in flight on each of 20 connections at 1,000 msgs/s (connection
 * i's phase 50 * i us): every send the JSON counts as early must be in
 * the RTT log as sent before its due time. (A send that went before the
 * run's start would not be logged: three are allowed for.) Once it also
 * caught a message due while its connection connected being timed from
 * a send that had not happened: it went when the connection was up. */
Test(load, no_send_goes_early_past_the_ring_so_each_is_timed_from_its_send, T_OPTS)
{
	struct holder h = {.lfd = socket(AF_INET, SOCK_STREAM, 0), .conns = 20};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(h.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(h.lfd, 64), 0);
	socklen_t len = sizeof(a);
	getsockname(h.lfd, (struct sockaddr *)&a, &len);
	pthread_t t;
	pthread_create(&t, NULL, hold_accept, &h);
	char dir[64], log[96], json[96];
	scratch(dir, sizeof(dir), "ring");
	snprintf(log, sizeof(log), "%s/rtt.csv", dir);
	snprintf(json, sizeof(json), "%s/load.json", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(ntohs(a.sin_port)), "--conns", "20", "--threads", "1", "--rate", "1000",
			     "--count", "200", "--raw", "--quiet", "--rtt-log", log, "--rtt-log-all", "--json", json,
			     "--allow-invalid", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	pthread_join(t, NULL);
	close(h.lfd);
	const char *p = strchr(slurp(log), '\n') + 1;
	int rows = 0;
	long early = 0;
	for (; *p; p = strchr(p, '\n') + 1, rows++) {
		long conn, seq, tsend, rtt;
		cr_assert_eq(sscanf(p, "%ld,%ld,%ld,%ld", &conn, &seq, &tsend, &rtt), 4);
		cr_expect_geq(rtt, HOLD_US, "conn %ld seq %ld: RTT %ld us, shorter than the server held it", conn,
			      seq, rtt);
		early += tsend < conn * 50 + seq * 1000;
	}
	cr_expect_eq(rows, 20 * 200);
	const char *lateness = strstr(slurp(json), "\"lateness_us\"");
	cr_assert_not_null(lateness, "no lateness_us in %s", json);
	long counted = (long)json_num(lateness, "early_sends");
	cr_expect(counted >= early && counted <= early + 3,
		  "%ld sends went early, %ld logged as early: the rest timed from their due time", counted, early);
	scratch_remove(dir);
}

/* A raw echo server that counts how many bytes each read took. */
struct read_counter {
	int lfd;
	size_t reads[64];
	int nreads;
};

static void *count_reads(void *arg)
{
	struct read_counter *rc = arg;
	int fd = accept(rc->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (rc->nreads < 64)
			rc->reads[rc->nreads++] = (size_t)n;
		if (write(fd, buf, (size_t)n) != n)
			break;
	}
	close(fd);
	return NULL;
}

/* --arrival burst:4 at 100 msgs/s: four messages due together every 40
 * ms, each timed from its burst's due time, and the server reads them
 * four at a time. (That a burst is one send, not four in a row, this
 * cannot tell: perf's syscall counters showed it, docs/bench.md.) */
Test(load, burst_arrivals_write_k_messages_at_once, T_OPTS)
{
	struct read_counter rc = {.lfd = socket(AF_INET, SOCK_STREAM, 0)};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(rc.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(rc.lfd, 8), 0);
	socklen_t len = sizeof(a);
	getsockname(rc.lfd, (struct sockaddr *)&a, &len);
	pthread_t t;
	pthread_create(&t, NULL, count_reads, &rc);
	char dir[64], log[96], json[96];
	scratch(dir, sizeof(dir), "burst");
	snprintf(log, sizeof(log), "%s/rtt.csv", dir);
	snprintf(json, sizeof(json), "%s/load.json", dir);
	int rc_ = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			      port_str(ntohs(a.sin_port)), "--conns", "1", "--rate", "100", "--arrival", "burst:4",
			      "--count", "12", "--size", "15", "--raw", "--quiet", "--rtt-log", log, "--json", json,
			      "--allow-invalid", NULL);
	cr_expect_eq(rc_, 0, "exit %d: %s%s", rc_, out, err);
	pthread_join(t, NULL);
	close(rc.lfd);
	cr_expect_gt(rc.nreads, 0);
	for (int i = 0; i < rc.nreads; i++)
		cr_expect_eq(rc.reads[i] % (4 * 16), 0, "read %d took %zu bytes: not whole bursts of four 16-byte lines", i,
			     rc.reads[i]);
	const char *p = strchr(slurp(log), '\n') + 1;
	int rows = 0;
	for (; *p; p = strchr(p, '\n') + 1, rows++) {
		long conn, seq, tsend, rtt;
		cr_assert_eq(sscanf(p, "%ld,%ld,%ld,%ld", &conn, &seq, &tsend, &rtt), 4);
		cr_expect_eq(tsend, seq / 4 * 40000, "seq %ld timed from %ld us, not its burst's due time", seq, tsend);
	}
	cr_expect_eq(rows, 12);
	const char *j = slurp(json);
	cr_expect_not_null(strstr(j, "\"arrival\": \"burst\",\n  \"burst\": 4,"), "%s", j);
	scratch_remove(dir);
}

Test(load, spawn_runs_one_process_per_connection, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "fork", "--quiet", NULL);
	char dir[64], json[96];
	scratch(dir, sizeof(dir), "spawn");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "6", "--count", "30", "--spawn", "--quiet",
			     "--json", json, NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *j = slurp(json);
	cr_expect_eq(json_num(j, "messages"), 180, "%s", j);
	cr_expect_not_null(strstr(j, "\"spawn\": true"), "%s", j);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* --processes: 30 connections over 3 processes, an event loop each; the
 * merged figures are exactly what the processes measured: every reply of
 * --rtt-log-all sent and answered within the window (the log holds every
 * reply from the start) is one message of the summary, no more, no less,
 * and every connection answered. */
Test(load, processes_share_the_connections_and_merge_exactly, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], json[96], log[96];
	scratch(dir, sizeof(dir), "processes");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	snprintf(log, sizeof(log), "%s/rtt.csv", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "30", "--processes", "3", "--duration", "0.5", "--quiet",
			     "--rtt-log", log, "--rtt-log-all", "--json", json, NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	cr_expect_not_null(strstr(out, "30 connections (over 3 processes)"), "%s", out);
	const char *j = slurp(json);
	cr_expect_eq(json_num(j, "processes"), 3, "%s", j);
	cr_expect_eq(json_num(j, "connections_reached"), 30, "%s", j);
	FILE *f = fopen(log, "r");
	cr_assert_not_null(f);
	char line[128];
	long in_window = 0, conns_seen[30] = {0};
	cr_assert_not_null(fgets(line, sizeof(line), f)); /* the header */
	while (fgets(line, sizeof(line), f)) {
		long conn, seq, t_send, rtt;
		if (sscanf(line, "%ld,%ld,%ld,%ld", &conn, &seq, &t_send, &rtt) != 4)
			continue;
		in_window += t_send + rtt <= 500000;
		if (conn >= 0 && conn < 30)
			conns_seen[conn]++;
	}
	fclose(f);
	double messages = json_num(j, "messages");
	cr_expect_gt(messages, 0, "%s", j);
	cr_expect_eq((long)messages, in_window, "the merge says %.0f messages, the processes logged %ld in the window",
		     messages, in_window);
	for (int i = 0; i < 30; i++)
		cr_expect_gt(conns_seen[i], 0, "connection %d logged no reply", i);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* A stop sent to echolab-load alone (kill -INT PID, as a script does;
 * a terminal's Ctrl-C reaches the whole group) reaches its processes
 * too: the run ends at once, marked interrupted, and loses nothing the
 * processes measured (every logged reply is a message of the summary). It
 * once ran on for its whole duration. */
Test(load, a_stop_reaches_every_process, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], json[96], log[96];
	scratch(dir, sizeof(dir), "procstop");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	snprintf(log, sizeof(log), "%s/rtt.csv", dir);
	const char *script = "\"$0\" \"$@\" & p=$!; sleep 0.8; kill -INT $p; wait $p";
	int64_t t0 = el_io_now_ms();
	int rc = th_run_program("/bin/sh", NULL, out, sizeof(out), err, sizeof(err), "-c", script,
			     tool("ECHOLAB_LOAD"), "--port", port_str(s.port), "--conns", "20", "--processes", "2",
			     "--duration", "25", "--quiet", "--rtt-log", log, "--rtt-log-all", "--json", json, NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	cr_expect_lt(el_io_now_ms() - t0, 20000, "the run went on after the stop");
	const char *j = slurp(json);
	cr_expect_not_null(strstr(j, "\"interrupted\": true"), "%s", j);
	FILE *f = fopen(log, "r");
	cr_assert_not_null(f);
	char line[128];
	long rows = -1; /* the header */
	while (fgets(line, sizeof(line), f))
		rows++;
	fclose(f);
	cr_expect_gt(rows, 0);
	cr_expect_eq((long)json_num(j, "messages"), rows, "merged %.0f messages, logged %ld replies",
		     json_num(j, "messages"), rows);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* More connections than a process's fds hold: one line, before anything
 * runs, naming the --processes that would; with them, the run holds
 * every connection. */
Test(load, a_run_past_the_fd_limit_names_the_processes_it_needs, T_OPTS)
{
	struct th_server s;
	/* 1,000 connects at once: past the default backlog of 128, a server
	 * slowed by a CPU hog dropped SYNs, and 245 connects timed out in
	 * one hunt's run of 10 (2026-12-04). The backlog is not this test's. */
	th_server_start(&s, "epoll", "--quiet", "--backlog", "1024", NULL);
	const char *script = "ulimit -n 200 && exec \"$0\" \"$@\"";
	int rc = th_run_program("/bin/sh", NULL, out, sizeof(out), err, sizeof(err), "-c", script,
			     tool("ECHOLAB_LOAD"), "--port", port_str(s.port), "--conns", "1000", "--duration", "0.3",
			     "--quiet", NULL);
	cr_expect_eq(rc, 1, "exit %d: %s%s", rc, out, err);
	cr_expect_str_eq(err, "echolab-load: 1000 connections need 1064 fds in one process, over the limit of 200 "
			      "fds a process has here: --processes 8 would hold them\n");
	cr_expect_str_eq(out, "", "it ran anyway: %s", out);
	char json[96], dir[64];
	scratch(dir, sizeof(dir), "fdlimit");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	rc = th_run_program("/bin/sh", NULL, out, sizeof(out), err, sizeof(err), "-c", script, tool("ECHOLAB_LOAD"),
			    "--port", port_str(s.port), "--conns", "1000", "--processes", "8", "--duration", "0.3",
			    "--quiet", "--json", json, NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *j = slurp(json);
	cr_expect_eq(json_num(j, "connections_reached"), 1000, "%s", j);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* A timed run starts behind a gate (load.h): every connection is answered
 * once before the warm-up and the window begin, for all of them at once,
 * and the JSON says how many were. Against the iterative server only the
 * first is answered (the others wait their turn and time out, counted):
 * the gate opens once each connection was answered or failed, rather than
 * wait. A counted run has no gate. */
Test(load, a_timed_run_starts_once_every_connection_was_answered, T_OPTS)
{
	char dir[64], json[96];
	scratch(dir, sizeof(dir), "gate");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	struct th_server s;
	th_server_start(&s, "fork", "--quiet", NULL);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "20", "--spawn", "--duration", "1", "--warmup",
			     "0.2", "--quiet", "--json", json, NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *j = slurp(json);
	cr_expect_eq(json_num(j, "connections_ready"), 20, "%s", j);
	cr_expect_eq(json_num(j, "connections_reached"), 20, "%s", j);
	cr_expect_gt(json_num(j, "messages"), 0, "%s", j);
	th_server_stop(&s, SIGTERM);

	th_server_start(&s, "iterative", "--quiet", NULL);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			 port_str(s.port), "--conns", "3", "--duration", "1", "--timeout", "1", "--quiet",
			 "--json", json, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_expect_eq(rc, 1, "exit %d: %s%s", rc, out, err);
	j = slurp(json);
	cr_expect_eq(json_num(j, "connections_ready"), 1, "%s", j);
	cr_expect_geq(json_num(j, "timeout"), 2, "%s", j);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_expect_lt(took, 6.0 * th_slow_factor(), "the gate waited %.1f s", took);
	th_server_stop(&s, SIGTERM);

	th_server_start(&s, "epoll", "--quiet", NULL);
	rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			 port_str(s.port), "--conns", "2", "--count", "5", "--quiet", "--json", json, NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	j = slurp(json);
	cr_expect_null(strstr(j, "connections_ready"), "%s", j);
	cr_expect_eq(json_num(j, "connections_reached"), 2, "%s", j);
	th_server_stop(&s, SIGTERM);
	scratch_remove(dir);
}

Test(load, hgrm_is_hdrhistogram_percentile_distribution, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], hgrm[96];
	scratch(dir, sizeof(dir), "hgrm");
	snprintf(hgrm, sizeof(hgrm), "%s/rtt.hgrm", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "2", "--count", "200", "--quiet", "--hgrm",
			     hgrm, NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *h = slurp(hgrm);
	cr_expect_not_null(strstr(h, "Value"), "%s", h);
	cr_expect_not_null(strstr(h, "1/(1-Percentile)"), "%s", h);
	cr_expect_not_null(strstr(h, "#[Mean"), "%s", h);
	cr_expect_not_null(strstr(h, "#[Max"), "%s", h);
	cr_expect_not_null(strstr(h, "#[Buckets"), "%s", h);
	const char *last = strstr(h, " 1.000000000000 ");
	cr_assert_not_null(last, "a 100%% row: %s", h);
	cr_expect_eq(strtol(last + 16, NULL, 10), 400, "the 100%% row counts all 400: %s", h);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

Test(load, bad_usage_exits_2_with_one_line, T_OPTS)
{
	const char *bad[][2] = {{"--conns", "0"}, {"--conns", "200001"}, {"--size", "0"},
				{"--segment", "3/3"}, {"--segment", "1"}, {"--start-at", "yesterday"},
				{"--bind", "127.0.0.300"}, {"--segments", "2"},
				{"--rate", "-1"}, {"--percentiles", "50,101"}, {"--port", "70000"},
				{"--bogus", "1"}, {"--arrival", "poisson"}, {"--seed", "1"}, {"--arrival", "uniform"},
				{"--session", "0"}, {"--step-duration", "1"}, {"--rate-steps", "1,x"},
				{"--probe", "0"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err),
				     bad[i][0], bad[i][1], NULL);
		cr_expect_eq(rc, 2, "%s %s: exit %d", bad[i][0], bad[i][1], rc);
		cr_expect_eq(count_lines(err), 1, "%s %s: one line: %s", bad[i][0], bad[i][1], err);
		cr_expect_str_empty(out, "%s %s: %s", bad[i][0], bad[i][1], out);
	}
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--help",
			     NULL);
	cr_expect_eq(rc, 0);
	cr_expect_not_null(strstr(out, "--rtt-log-all"), "%s", out);
}

/* Starts a program with its fd `which` (1 or 2) to a pipe; returns its
 * pid. */
/* Starts path with its fd `which` (1, 2, or -1 for both) on a pipe whose
 * reading end goes into *out_fd. */
static pid_t start_program_fd(int which, int *out_fd, const char *path, char *const argv[])
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(p[1], which < 0 ? 1 : which);
		if (which < 0)
			dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execv(path, argv);
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

static pid_t start_program(int *out_fd, const char *path, char *const argv[])
{
	return start_program_fd(1, out_fd, path, argv);
}

/* Reads fd into buf from offset got until it holds at least `lines`
 * newlines (0: until EOF), timeout_ms passes without data, or buf is full;
 * returns the new length. buf stays NUL-terminated. */
static size_t read_more(int fd, char *buf, size_t len, size_t got, int lines, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	buf[got] = 0;
	while (got + 1 < len && (lines == 0 || count_lines(buf) < lines) &&
	       poll(&pfd, 1, timeout_ms) > 0) {
		ssize_t n = read(fd, buf + got, len - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = 0;
	}
	return got;
}

static size_t read_all(int fd, char *buf, size_t len, int timeout_ms)
{
	return read_more(fd, buf, len, 0, 0, timeout_ms);
}

/* Waits until process pid catches signal sig (its handler is installed:
 * under valgrind that takes seconds), as /proc/PID/status's SigCgt says. */
static void wait_for_handler(pid_t pid, int sig)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	for (int tries = 0; tries < 3000; tries++) {
		FILE *f = fopen(path, "r");
		cr_assert_not_null(f, "%s: %s", path, strerror(errno));
		unsigned long long mask = 0;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "SigCgt: %llx", &mask) == 1)
				break;
		fclose(f);
		if (mask & (1ULL << (sig - 1)))
			return;
		usleep(10000);
	}
	cr_assert_fail("process %d never installed a handler for signal %d", (int)pid, sig);
}

/* Runs echolab-load with argv, Ctrl-C's it half a second into its run,
 * reads its output into out; returns its wait status. */
static int load_interrupted(char *const argv[])
{
	int fd;
	pid_t pid = start_program(&fd, tool("ECHOLAB_LOAD"), argv);
	wait_for_handler(pid, SIGINT);
	usleep(500000 * th_slow_factor());
	kill(pid, SIGINT);
	read_all(fd, out, sizeof(out), 10000 * th_slow_factor());
	close(fd);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

Test(load, ctrl_c_prints_what_was_measured, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char *argv[] = {"echolab-load", "--port", (char *)port_str(s.port), "--conns", "4",
			"--duration", "60", NULL};
	int status = load_interrupted(argv);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, out);
	cr_expect_not_null(strstr(out, "(interrupted)"), "%s", out);
	const char *m = strstr(out, "messages  ");
	cr_assert_not_null(m, "%s", out);
	cr_expect_gt(strtoul(m + 10, NULL, 10), 0, "%s", out);
	th_server_stop(&s, SIGTERM);
}

/* How many threads of process pid may run on one CPU only, and on which
 * (cpus[i], for the first max); waits up to 10 s (scaled) for it to have
 * `threads` threads. */
static int pinned_threads(pid_t pid, int threads, int *cpus, int max)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	int n = 0;
	for (int tries = 0; tries < 1000 * th_slow_factor(); tries++) {
		DIR *d = opendir(dir);
		cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
		struct dirent *e;
		n = 0;
		while ((e = readdir(d)))
			n += e->d_name[0] != '.';
		closedir(d);
		if (n >= threads)
			break;
		usleep(10000);
	}
	cr_assert_geq(n, threads, "echolab-load has %d threads, not %d", n, threads);
	DIR *d = opendir(dir);
	struct dirent *e;
	int pinned = 0;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[384], line[256];
		snprintf(path, sizeof(path), "%s/%s/status", dir, e->d_name);
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f)) {
			char list[64];
			if (sscanf(line, "Cpus_allowed_list: %63s", list) != 1)
				continue;
			char *end;
			long cpu = strtol(list, &end, 10);
			if (*end == '\0') {
				if (pinned < max)
					cpus[pinned] = (int)cpu;
				pinned++;
			}
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return pinned;
}

/* --pin puts event loop i on the i-th CPU the process may use, and only
 * the loops: pinned, its two loops are on the first two allowed CPUs, one
 * each; unpinned, no thread is held to one CPU. */
Test(load, pin_places_each_event_loop_on_a_cpu_of_its_own, T_OPTS)
{
	cpu_set_t allowed;
	cr_assert_eq(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
	if (CPU_COUNT(&allowed) < 2)
		cr_skip_test("this process may use %d CPU: pinning cannot be told from the scheduler's choice",
			     CPU_COUNT(&allowed));
	int first[2], k = 0;
	for (int cpu = 0; cpu < CPU_SETSIZE && k < 2; cpu++)
		if (CPU_ISSET(cpu, &allowed))
			first[k++] = cpu;
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], json[96];
	scratch(dir, sizeof(dir), "pin");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	for (int pin = 1; pin >= 0; pin--) {
		/* Open loop at a low rate: loops held to one CPU each at full
		 * speed starved the other tests' servers run beside this one
		 * (one took over 2 s to stop). Whether sends were late is not
		 * this test's question. */
		char *argv[] = {"echolab-load", "--port", (char *)port_str(s.port), "--conns", "4", "--threads", "2",
				"--rate", "100", "--duration", "2", "--quiet", "--allow-invalid", "--json", json,
				pin ? "--pin" : NULL, NULL};
		int fd;
		pid_t pid = start_program(&fd, tool("ECHOLAB_LOAD"), argv);
		int cpus[4];
		int pinned = pinned_threads(pid, 3, cpus, 4);
		/* A thread is listed before its creator has set its affinity
		 * (glibc sets it just after the clone): a look in between saw
		 * one loop pinned, once in 20 runs beside a CPU hog. Look
		 * again, for a second at most. */
		for (int i = 0; pin && pinned < 2 && i < 100 * th_slow_factor(); i++) {
			usleep(10000);
			pinned = pinned_threads(pid, 3, cpus, 4);
		}
		read_all(fd, out, sizeof(out), 30000 * th_slow_factor());
		close(fd);
		int status;
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, out);
		const char *j = slurp(json);
		if (pin) {
			cr_expect_eq(pinned, 2, "--pin: %d threads held to one CPU, not the 2 loops", pinned);
			cr_expect(pinned == 2 && ((cpus[0] == first[0] && cpus[1] == first[1]) ||
						  (cpus[0] == first[1] && cpus[1] == first[0])),
				  "--pin: loops on CPUs %d and %d, not %d and %d", cpus[0], cpus[1], first[0], first[1]);
			cr_expect_not_null(strstr(j, "\"pinned\": true"), "%s", j);
		} else {
			cr_expect_eq(pinned, 0, "unpinned: %d threads held to one CPU", pinned);
			cr_expect_not_null(strstr(j, "\"pinned\": false"), "%s", j);
		}
	}
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* Start echolab-load at 10 connections, RATE a connection, for 2 s from
 * a pinned --start-at LEAD seconds from now, and wait for it; with STOP
 * set, stop it (SIGSTOP) for half a second from 0.3 s into its window.
 * Its JSON is left in JSON, its output in out; returns its wait status. */
static int run_paced(int port, const char *rate, double lead, bool stop, const char *json)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	double start = (double)now.tv_sec + now.tv_nsec / 1e9 + lead;
	char at[32];
	snprintf(at, sizeof(at), "%.3f", start);
	char *argv[] = {"echolab-load", "--port", (char *)port_str(port), "--conns", "10", "--threads", "1",
			"--rate", (char *)rate, "--duration", "2", "--start-at", at, "--json", (char *)json,
			"--quiet", NULL};
	int fd;
	pid_t pid = start_program(&fd, tool("ECHOLAB_LOAD"), argv);
	if (stop) {
		clock_gettime(CLOCK_REALTIME, &now);
		double wait = start + 0.3 - ((double)now.tv_sec + now.tv_nsec / 1e9);
		if (wait > 0)
			usleep((useconds_t)(wait * 1e6));
		kill(pid, SIGSTOP);
		usleep(500000);
		kill(pid, SIGCONT);
	}
	read_all(fd, out, sizeof(out), 30000 * th_slow_factor());
	close(fd);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

/* A run the generator shaped is marked invalid, and one it did not is
 * not: the same open-loop run healthy, then with the generator stopped
 * (SIGSTOP) for half a second inside its window, every send due then
 * going out late. The window is pinned with --start-at so the stop lands
 * in it.
 *
 * Healthy: 20 msgs/s a connection (a 50 ms gap, 5 ms allowed), 400
 * sends; starved: 100 (10 ms, 1 ms allowed), 500 sends stopped. The
 * machine can starve the healthy run too: on a CI machine with nothing
 * else of ours running, 14 of its 400 sends went out 5 to 17 ms late (p99
 * 8.7 ms), and the verdict said so, as it must. So the test holds the
 * verdict to what the code promises: a healthy run marked invalid names
 * late sends and reports a p99 lateness over the 5 ms allowed; and of up
 * to three healthy runs one is valid (a verdict never "valid" fails). */
Test(load, alone_a_starved_generator_is_invalid_and_a_healthy_one_is_not, T_OPTS)
{
	alone_or_skip();
	if (getenv("ECHOLAB_UNDER_VALGRIND"))
		cr_skip_test("valgrind runs the generator 20 times slower than its schedule, so every run "
			     "is late: the verdict is checked natively, under ASan and with clang");
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], json[96];
	scratch(dir, sizeof(dir), "starved");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	double lead = th_slow_factor() > 1 ? 3 : 1.5; /* time to pass the gate first */
	bool valid = false;
	int runs = 0;
	while (!valid && runs < 3) {
		int status = run_paced(s.port, "20", lead, false, json);
		const char *j = slurp(json);
		runs++;
		valid = strstr(j, "\"valid\": true") != NULL;
		if (valid) {
			cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "healthy: status %d: %s", status, out);
			cr_expect_not_null(strstr(j, "\"invalid_reasons\": []"), "healthy: %s", j);
			cr_expect_not_null(strstr(out, "valid     yes"), "%s", out);
			continue;
		}
		const char *lateness = strstr(j, "\"lateness_us\"");
		cr_assert_not_null(lateness, "no lateness_us in %s", j);
		double p99 = json_num(lateness, "p99");
		cr_log_info("healthy run %d marked invalid: sends late, p99 %.0f us", runs, p99);
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "invalid: status %d: %s", status, out);
		cr_expect_not_null(strstr(j, "\"sends late: p99 "), "healthy run %d invalid for another reason: %s",
				   runs, j);
		cr_expect_gt(p99, 5000, "healthy run %d invalid with its sends on time: %s", runs, j);
	}
	cr_expect(valid, "none of %d healthy runs was valid (the last: %s)", runs, out);

	int status = run_paced(s.port, "100", lead, true, json);
	const char *j = slurp(json);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "starved: status %d: %s", status, out);
	cr_expect_not_null(strstr(j, "\"valid\": false"), "starved: %s", j);
	cr_expect_not_null(strstr(j, "\"sends late: p99 "), "starved: %s", j);
	cr_expect_gt(json_num(j, "late_sends"), 400, "the ~500 sends due in the stop: %s", j);
	cr_expect_not_null(strstr(out, "valid     NO, not measured as asked: sends late"), "%s", out);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* --arrival poisson: the gaps the generator actually sent fit the
 * exponential they were drawn from (Anderson-Darling, the JSON's
 * arrival_fit), with the seed given; a fixed schedule has no fit. */
Test(load, alone_poisson_arrivals_fit_what_was_sent, T_OPTS)
{
	alone_or_skip();
	if (getenv("ECHOLAB_UNDER_VALGRIND"))
		cr_skip_test("valgrind runs the generator 20 times slower than its schedule: its sends "
			     "are measured natively, under ASan and with clang");
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], json[96];
	scratch(dir, sizeof(dir), "poisson");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "20", "--rate", "50", "--duration", "2", "--arrival",
			     "poisson", "--seed", "7", "--json", json, "--allow-invalid", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *j = slurp(json);
	cr_expect_not_null(strstr(j, "\"arrival\": \"poisson\""), "%s", j);
	cr_expect_eq(json_num(j, "seed"), 7, "%s", j);
	/* 20 connections, 50 gaps a second each, for 2 s. */
	cr_expect_geq(json_num(j, "gaps"), 1500, "%s", j);
	double p = json_num(j, "p_value");
	cr_expect_geq(p, 0.001, "the gaps sent do not fit their exponential: %s", j);
	cr_expect_not_null(strstr(out, "arrivals  poisson (seed 7): Anderson-Darling A2 "), "%s", out);
	rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port", port_str(s.port),
			 "--conns", "2", "--rate", "50", "--duration", "0.5", "--json", json, "--allow-invalid", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	j = slurp(json);
	cr_expect_not_null(strstr(j, "\"arrival\": \"fixed\""), "%s", j);
	cr_expect_null(strstr(j, "arrival_fit"), "%s", j);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* --session K: every connection sends K messages, closes and connects
 * again; the server sees a connection per session, and each session's
 * connect and first reply are timed. */
Test(load, sessions_reconnect_and_time_each_connect, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "thread", NULL);
	char dir[64], json[96];
	scratch(dir, sizeof(dir), "sessions");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "4", "--session", "3", "--count", "9", "--json", json, NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *j = slurp(json);
	cr_expect_eq(json_num(j, "messages"), 36, "%s", j);
	cr_expect_eq(json_num(j, "session"), 3, "%s", j);
	cr_expect_eq(json_num(j, "sessions"), 12, "4 connections, 3 sessions each: %s", j);
	const char *c = strstr(j, "\"connect_us\": {\"count\": "), *f = strstr(j, "\"first_reply_us\": {\"count\": ");
	cr_assert(c && f, "%s", j);
	cr_expect_eq(strtol(c + 24, NULL, 10), 12, "a connect timed per session: %s", j);
	cr_expect_eq(strtol(f + 28, NULL, 10), 12, "a first reply timed per session: %s", j);
	cr_expect_not_null(strstr(out, "sessions  12 of 3 messages"), "%s", out);
	th_server_stop(&s, SIGTERM);
	size_t len = 0;
	char *log = th_server_log(&s, &len);
	int opens = 0;
	for (const char *p = log; (p = strstr(p, "# open")); p++)
		opens++;
	free(log);
	cr_expect_eq(opens, 12, "the server saw %d connections, not one a session", opens);
	scratch_remove(dir);
}

static unsigned jitter_start(pid_t *pid, const char *percent, const char *max_us, const char *period_ms);
static void jitter_stop(pid_t pid);

/* --until-ci ends a timed run early once p99's interval is tight enough
 * (here trivially: +-10000%, after the 5 intervals it always waits for:
 * one second's p99 on a busy machine can be 50 times another's), and
 * runs a bound its server cannot meet to --duration, saying so. That
 * server is the jitter echo, whose p99 differs from one 1.5 s stretch to
 * the next: against a quiet epoll server every interval's p99 was the
 * same histogram bucket (7 us), an interval of +-0.0%, and "+-0.0001%"
 * was met (clang step, fresh clone, 2026-12-02). The rule itself, on
 * quiet and noisy data, is tested in test_stats.c. */
Test(load, until_ci_ends_the_run_when_the_interval_is_tight, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], json[96];
	scratch(dir, sizeof(dir), "until");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "2", "--duration", "30", "--until-ci", "10000", "--json", json,
			     NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *j = slurp(json);
	const char *until = strstr(j, "\"until_ci\": {");
	cr_assert_not_null(until, "%s", j);
	cr_expect_not_null(strstr(until, "\"reached\": true"), "%s", j);
	cr_expect(json_num(j, "window_s") < 8 * th_slow_factor(), "ran %g s of 30: %s", json_num(j, "window_s"), j);
	cr_expect_not_null(strstr(out, "until-ci  p99 within +-10000% after 5.0 s"), "%s", out);
	pid_t jitter;
	unsigned jport = jitter_start(&jitter, "3", "4000", "1500");
	rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--raw", "--port",
			    port_str(jport), "--conns", "1", "--duration", "6", "--until-ci", "0.0001", "--json", json,
			    "--intervals-csv", "/dev/null", NULL);
	jitter_stop(jitter);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	j = slurp(json);
	cr_expect_not_null(strstr(j, "\"reached\": false"), "%s", j);
	cr_expect_geq(json_num(j, "window_s"), 5.9, "%s", j);
	cr_expect_not_null(strstr(out, "until-ci  p99 only within +-"), "%s", out);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* The jitter server (jitter_echo): its port, read from its first line;
 * its pid into pid. */
static unsigned jitter_start(pid_t *pid, const char *percent, const char *max_us, const char *period_ms)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	*pid = fork();
	cr_assert_geq(*pid, 0);
	if (*pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl(getenv("ECHOLAB_JITTER_ECHO"), "jitter_echo", percent, max_us, "1", period_ms, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char line[16] = "";
	ssize_t n = read(p[0], line, sizeof(line) - 1);
	close(p[0]);
	cr_assert_gt(n, 0, "jitter_echo did not start");
	line[n] = 0;
	return (unsigned)atoi(line);
}

static void jitter_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* --until-ci against two real servers, the same code but for how their
 * noise lies in time: a steady one, that holds every reply 0 to 4 ms (its
 * p99 about 4 ms in every second), and one that holds 3% of its replies
 * up to 4 ms in every other 1.5 s stretch (one second's p99 then tens of
 * microseconds, another's milliseconds). The steady one reaches +-25% and
 * stops, never before the 5 intervals the rule waits for; the noisy one
 * runs longer, here to its --duration. The rule looks at how p99 varies
 * from one interval to the next, not at how large it is: a steady server
 * whose p99 was the machine's (an epoll echo, tens of microseconds) took
 * 13.01 s of 15 on a busy CI machine (gcc step, 2026-12-02), since a busy
 * second there moves a p99 of 30 us by far more than 25%. Held to 4 ms by
 * the server itself, the steady p99 is the server's, and the machine's
 * milliseconds would have to delay one reply in a hundred to move it. */
Test(load, alone_until_ci_stops_sooner_on_a_steady_server_than_on_a_noisy_one, T_OPTS)
{
	alone_or_skip();
	if (getenv("ECHOLAB_UNDER_VALGRIND"))
		cr_skip_test("under valgrind a steady server's p99 is valgrind's, not steady: the rule is "
			     "checked natively, under ASan and with clang");
	char dir[64], json[96];
	scratch(dir, sizeof(dir), "untilci");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	double window[2] = {0, 0};
	bool reached[2] = {false, false};
	for (int noisy = 0; noisy < 2; noisy++) {
		pid_t pid;
		unsigned port = jitter_start(&pid, noisy ? "3" : "100", "4000", noisy ? "1500" : "0");
		int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--raw", "--port",
				     port_str(port), "--conns", "1", "--duration", "15", "--until-ci", "25", "--json",
				     json, NULL);
		jitter_stop(pid);
		cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
		const char *j = slurp(json);
		const char *until = strstr(j, "\"until_ci\": {");
		cr_assert_not_null(until, "%s", j);
		reached[noisy] = strstr(until, "\"reached\": true") != NULL;
		window[noisy] = json_num(j, "window_s");
		cr_expect_geq(window[noisy], 4.9, "%s stopped after %g s, before 5 intervals", noisy ? "noisy" : "steady",
			      window[noisy]);
	}
	cr_expect(reached[0], "the steady server never reached +-25%% in 15 s");
	cr_expect_gt(window[1], window[0] + 3, "the noisy server stopped after %g s, the steady one after %g s",
		     window[1], window[0]);
	scratch_remove(dir);
}

/* --rate-steps: the rates in turn in one process, a line and a summary
 * a step, each step's offered rate its own. */
Test(load, rate_steps_run_each_rate_in_turn, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], json[96];
	scratch(dir, sizeof(dir), "steps");
	snprintf(json, sizeof(json), "%s/steps.json", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "2", "--rate-steps", "20,40", "--step-duration", "1", "--json",
			     json, "--allow-invalid", NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *j = slurp(json);
	cr_expect_eq(strncmp(j, "{\"steps\": [", 11), 0, "%s", j);
	const char *one = strstr(j, "\"rate_per_conn\": 20,"), *two = strstr(j, "\"rate_per_conn\": 40,");
	cr_assert(one && two && one < two, "%s", j);
	cr_expect_eq(json_num(one, "offered_msgs_per_s"), 40, "%s", j);
	cr_expect_eq(json_num(two, "offered_msgs_per_s"), 80, "%s", j);
	cr_expect_eq(count_lines(out), 4, "a head, a column line and a line a step: %s", out);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* --probe R: one more connection at R msgs/s through the load's window,
 * its RTTs reported apart from the load's. */
Test(load, a_probe_measures_latency_under_load_apart, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], json[96];
	scratch(dir, sizeof(dir), "probe");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "4", "--duration", "3", "--probe", "50", "--json", json, NULL);
	cr_expect_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	const char *j = slurp(json);
	const char *pr = strstr(j, "\"probe\": {");
	cr_assert_not_null(pr, "%s", j);
	cr_expect_eq(json_num(pr, "rate"), 50, "%s", pr);
	/* From within the window's first second to its end: 1 to 3 s. */
	double replies = json_num(pr, "replies");
	cr_expect(replies >= 40 && replies <= 152, "%g probe replies: %s", replies, pr);
	cr_expect_eq(json_num(pr, "errors"), 0, "%s", pr);
	cr_expect_not_null(strstr(out, "probe     50 msg/s on a connection of its own: "), "%s", out);
	/* The load's own connection count is unchanged. */
	cr_expect_eq(json_num(j, "connections"), 4, "%s", j);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* A server that serves 10 of 50 connections (the rest told "! busy"):
 * the run says 10 of 50, is invalid, and exits 1; --allow-invalid does
 * not hide the errors. */
Test(load, a_server_that_serves_10_of_50_makes_the_run_invalid, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", "--max-conns", "10", NULL);
	char dir[64], json[96];
	scratch(dir, sizeof(dir), "short");
	snprintf(json, sizeof(json), "%s/load.json", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "50", "--duration", "0.5", "--json", json, NULL);
	cr_expect_eq(rc, 1, "exit %d: %s%s", rc, out, err);
	const char *j = slurp(json);
	cr_expect_eq(json_num(j, "connections_requested"), 50, "%s", j);
	cr_expect_eq(json_num(j, "connections_reached"), 10, "%s", j);
	cr_expect_not_null(strstr(j, "\"valid\": false"), "%s", j);
	cr_expect_not_null(strstr(j, "\"invalid_reasons\": [\"connections: 10 of 50 answered\"]"), "%s", j);
	cr_expect_not_null(strstr(out, "connections: 10 of 50 answered"), "%s", out);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

static const char monitor_header[] =
	"t_s,procs,threads,cpu_user_pct,cpu_sys_pct,rss_kib,pss_kib,fds,ctx_voluntary,"
	"ctx_involuntary,sys_mem_total_kib,sys_mem_used_kib,sys_mem_free_kib,sys_mem_shared_kib,"
	"sys_mem_buffers_kib,sys_mem_cached_kib,sys_cpu_user_pct,sys_cpu_sys_pct,"
	"sys_cpu_nice_pct,sys_cpu_idle_pct,sys_cpu_iowait_pct,late_ms\n";

/* The monitor on a thread server with 3 clients: the header of
 * docs/interface.md, rows every interval, the server's threads counted,
 * and the end of the server ends the monitor. */
Test(monitor, samples_a_server_until_it_exits, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "thread", "--quiet", NULL);
	struct th_client c[3];
	for (int i = 0; i < 3; i++) {
		th_client_open(&c[i], &s);
		th_client_send_str(&c[i], "x\n");
		th_client_expect_echo(&c[i], "x", 1);
	}
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)s.pid);
	char *argv[] = {"echolab-monitor", "--pid", pid, "--interval", "0.1", NULL};
	int fd;
	pid_t mon = start_program(&fd, tool("ECHOLAB_MONITOR"), argv);
	/* The header and 3 rows before the server goes (valgrind takes
	 * seconds to start the monitor). */
	size_t got = read_more(fd, out, sizeof(out), 0, 4, 10000 * th_slow_factor());
	for (int i = 0; i < 3; i++)
		th_client_close(&c[i]);
	th_server_stop(&s, SIGTERM);
	read_more(fd, out, sizeof(out), got, 0, 5000 * th_slow_factor());
	close(fd);
	int status;
	cr_assert_eq(waitpid(mon, &status, 0), mon);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
	cr_assert_eq(strncmp(out, monitor_header, strlen(monitor_header)), 0, "%s", out);
	int rows = count_lines(out) - 1;
	cr_expect_geq(rows, 3, "%s", out);
	const char *p = out + strlen(monitor_header);
	double t, last_t = -1;
	long procs, threads, max_threads = 0;
	while (*p && sscanf(p, "%lf,%ld,%ld,", &t, &procs, &threads) == 3) {
		cr_expect_gt(t, last_t);
		/* Once the server is told to stop, LeakSanitizer's
		 * stop-the-world tracer is a second process of its tree:
		 * the monitor is right to count it. */
		if (p >= out + got && getenv("ECHOLAB_UNDER_ASAN"))
			cr_expect(procs == 1 || procs == 2, "%s", p);
		else
			cr_expect_eq(procs, 1, "%s", p);
		if (threads > max_threads)
			max_threads = threads;
		last_t = t;
		p = strchr(p, '\n') + 1;
	}
	cr_expect_geq(max_threads, 4, "the main thread and 3 connection threads: %s", out);
}

Test(monitor, bad_pid_and_bad_usage, T_OPTS)
{
	pid_t gone = fork();
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)gone);
	int rc = th_run_program(tool("ECHOLAB_MONITOR"), NULL, out, sizeof(out), err, sizeof(err),
			     "--pid", pid, NULL);
	cr_expect_eq(rc, 1, "exit %d: %s", rc, err);
	cr_expect_eq(count_lines(err), 1, "%s", err);
	rc = th_run_program(tool("ECHOLAB_MONITOR"), NULL, out, sizeof(out), err, sizeof(err),
			 "--interval", "0", "--pid", "1", NULL);
	cr_expect_eq(rc, 2, "exit %d: %s", rc, err);
	rc = th_run_program(tool("ECHOLAB_MONITOR"), NULL, out, sizeof(out), err, sizeof(err), "--interval", "1", NULL);
	cr_expect_eq(rc, 2, "exit %d: %s", rc, err);
}

/* A sampler held up (here SIGSTOP for 2 s; in the bench, the kernel made
 * it wait for a forking server's memory-map lock) does not make up the
 * slots it missed in a burst: the late sample is taken at once with its
 * lateness in late_ms, the next at the next slot of the first schedule,
 * and the missed slots are counted on stderr. Each row's slot, t_s -
 * late_ms, is then a distinct multiple of the interval. */
Test(monitor, a_held_up_sampler_skips_the_missed_slots_and_says_how_late, T_OPTS)
{
	char dir[64], csv[96], pid[16];
	scratch(dir, sizeof(dir), "monstop");
	snprintf(csv, sizeof(csv), "%s/mon.csv", dir);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	char *argv[] = {"echolab-monitor", "--pid", pid, "--interval", "0.1", "--duration", "4",
			"--out", csv, NULL};
	int efd;
	pid_t mon = start_program_fd(2, &efd, tool("ECHOLAB_MONITOR"), argv);
	/* Three rows first (valgrind takes seconds to start the monitor). */
	for (int i = 0; i < 1000 * th_slow_factor(); i++) {
		FILE *f = fopen(csv, "r");
		int lines = 0;
		for (int ch; f && (ch = fgetc(f)) != EOF;)
			lines += ch == '\n';
		if (f)
			fclose(f);
		if (lines >= 4)
			break;
		usleep(10000);
	}
	cr_assert_eq(kill(mon, SIGSTOP), 0);
	usleep(2000000);
	cr_assert_eq(kill(mon, SIGCONT), 0);
	read_all(efd, err, sizeof(err), 20000 * th_slow_factor());
	close(efd);
	int status;
	cr_assert_eq(waitpid(mon, &status, 0), mon);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, err);
	const char *text = slurp(csv);
	cr_assert_eq(strncmp(text, monitor_header, strlen(monitor_header)), 0, "%s", text);
	const char *p = text + strlen(monitor_header);
	long rows = 0, last_slot = -1, late_rows = 0;
	double most_late = 0;
	while (*p) {
		const char *nl = strchr(p, '\n');
		cr_assert_not_null(nl);
		double t = strtod(p, NULL);
		const char *last = nl;
		while (last > p && last[-1] != ',')
			last--;
		double late = strtod(last, NULL);
		long slot = lround((t - late / 1000) / 0.1);
		cr_expect_gt(slot, last_slot, "slot %ld after slot %ld: a burst (row %ld: %.*s)", slot,
			     last_slot, rows, (int)(nl - p), p);
		last_slot = slot;
		late_rows += late >= 1000;
		most_late = late > most_late ? late : most_late;
		rows++;
		p = nl + 1;
	}
	cr_expect_geq(late_rows, 1, "no row says it was late: %s", text);
	cr_expect_geq(most_late, 1000, "%s", text);
	/* 41 slots in 4 s, about 20 of them missed while stopped. */
	cr_expect_leq(rows, 41 - 15, "%ld rows: the missed slots were made up: %s", rows, text);
	cr_expect_not_null(strstr(err, "slots missed"), "stderr: %s", err);
	scratch_remove(dir);
}

Test(monitor, duration_and_out_file, T_OPTS)
{
	char dir[64], csv[96], pid[16];
	scratch(dir, sizeof(dir), "mon");
	snprintf(csv, sizeof(csv), "%s/mon.csv", dir);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	int rc = th_run_program(tool("ECHOLAB_MONITOR"), NULL, out, sizeof(out), err, sizeof(err),
			     "--pid", pid, "--interval", "0.1", "--duration", "0.5", "--out", csv, NULL);
	cr_expect_eq(rc, 0, "exit %d: %s", rc, err);
	cr_expect_str_empty(out);
	const char *text = slurp(csv);
	cr_expect_eq(strncmp(text, monitor_header, strlen(monitor_header)), 0, "%s", text);
	int rows = count_lines(text) - 1;
	cr_expect(rows >= 4 && rows <= 7, "about 5 rows in 0.5 s: %d", rows);
	scratch_remove(dir);
}

/* The JSON summary's window_start_unix. */
static double window_start(const char *path)
{
	return json_num(slurp(path), "window_start_unix");
}

/* Starts the three segments of one command line for the wall-clock time
 * margin_s from now and waits for them; what each said goes into said[i],
 * its exit status into status[i] (-1: killed). Returns the most any of
 * them started after that time, in seconds. */
static double run_segments(const struct th_server *s, const char *dir, double margin_s, char said[3][2048],
			   int status[3])
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	char at[64];
	snprintf(at, sizeof(at), "%.3f", (double)now.tv_sec + now.tv_nsec / 1e9 + margin_s);
	char json[128];
	snprintf(json, sizeof(json), "%s/seg-{segment}.json", dir);
	pid_t pids[3];
	int fds[3];
	for (int i = 0; i < 3; i++) {
		char seg[16];
		snprintf(seg, sizeof(seg), "%d/3", i);
		char *argv[] = {"echolab-load", "--port", (char *)port_str(s->port), "--conns", "10", "--segment", seg,
				"--start-at", at, "--duration", "1", "--quiet", "--json", json, NULL};
		pids[i] = start_program_fd(-1, &fds[i], tool("ECHOLAB_LOAD"), argv);
	}
	/* What each segment said, for a failure's message: a segment that
	 * exited 1 under ASan (a CI run, stop 37) left no word of why. */
	double late = 0;
	for (int i = 0; i < 3; i++) {
		read_all(fds[i], said[i], 2048, 60000);
		close(fds[i]);
		int st;
		cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
		status[i] = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		/* How late it started, as its summary says (none: no start). */
		char path[160];
		snprintf(path, sizeof(path), "%s/seg-%d.json", dir, i);
		const char *j = slurp(path);
		double l = strstr(j, "\"start_late_s\"") ? json_num(j, "start_late_s") : 1e9;
		late = l > late ? l : late;
	}
	return late;
}

/* Three segments of one command line started for one wall-clock time:
 * each runs its share, writes its own file ({segment}), their windows
 * start within 10 ms of each other, and the merge is the sum.
 * The start time must be one every segment can make: each connects and
 * is answered first. Beside the ASan suite and a hog, 4.5 s was not
 * always enough (2 segments 373 and 628 ms late, 3 hunt runs of 10); a
 * segment that started late says so (the lateness is reported, not
 * hidden), and the trial is run again with twice the margin. So is a
 * trial where a segment measured nothing (exit 1): in a fresh clone's
 * ASan step, two segments started 217 ms late and had no reply in their
 * whole 1 s window, and their exit failed the test although the trial
 * was to be run again. The trial that counts is the last. */
Test(load, segments_start_together_and_merge_to_their_sum, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64];
	scratch(dir, sizeof(dir), "segments");
	static char said[3][2048];
	/* Half the windows' bound: two segments on time are then within it. */
	double margin = 1.5 * th_slow_factor(), late = 0, on_time = 0.005 * th_slow_factor();
	char lateness[512] = "";
	int status[3];
	bool ok = false;
	for (int trial = 0; trial < 3 && !ok; trial++, margin *= 2) {
		late = run_segments(&s, dir, margin, said, status);
		ok = late < on_time && status[0] == 0 && status[1] == 0 && status[2] == 0;
		size_t used = strlen(lateness);
		if (!ok)
			snprintf(lateness + used, sizeof(lateness) - used,
				 "%s%.0f ms late with %.1f s to start, exits %d %d %d", used ? "; " : "", late * 1e3,
				 margin, status[0], status[1], status[2]);
	}
	cr_assert(ok, "no trial started every segment on time with a measure: %s; the last said: %s / %s / %s",
		  lateness, said[0], said[1], said[2]);
	double starts[3], messages = 0;
	long conns[3];
	char paths[3][128];
	for (int i = 0; i < 3; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/seg-%d.json", dir, i);
		const char *j = slurp(paths[i]);
		conns[i] = (long)json_num(j, "connections");
		messages += json_num(j, "messages");
		cr_expect_eq(json_num(j, "index"), i, "%s", j);
		starts[i] = window_start(paths[i]);
	}
	cr_expect(conns[0] == 4 && conns[1] == 3 && conns[2] == 3, "shares %ld %ld %ld of 10", conns[0], conns[1],
		  conns[2]);
	for (int i = 1; i < 3; i++)
		cr_expect_leq(fabs(starts[i] - starts[0]), 0.010 * th_slow_factor(), "segment %d's window started %.1f ms "
			      "from segment 0's: %s / %s", i, (starts[i] - starts[0]) * 1e3, said[0], said[i]);
	char merged[128];
	snprintf(merged, sizeof(merged), "%s/merged.json", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "merge", "--json",
			     merged, paths[0], paths[1], paths[2], NULL);
	cr_expect_eq(rc, 0, "merge: exit %d: %s%s", rc, out, err);
	cr_expect_not_null(strstr(out, "3 summaries, 10 connections"), "%s", out);
	const char *m = slurp(merged);
	cr_expect_eq(json_num(m, "messages"), messages, "%s", m);
	cr_expect_eq(json_num(m, "count"), messages, "%s", m);
	cr_expect_eq(json_num(m, "merged_from"), 3, "%s", m);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* A segment cut short by Ctrl-C still writes a summary, marked
 * interrupted, that merges; the merge says so and exits 1. */
Test(load, an_interrupted_segment_merges_flagged, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], a[128], b[128];
	scratch(dir, sizeof(dir), "interrupted");
	snprintf(a, sizeof(a), "%s/a.json", dir);
	snprintf(b, sizeof(b), "%s/b.json", dir);
	char *argv[] = {"echolab-load", "--port", (char *)port_str(s.port), "--conns", "2", "--segment", "0/2",
			"--duration", "60", "--json", a, NULL};
	load_interrupted(argv);
	cr_expect_not_null(strstr(slurp(a), "\"interrupted\": true"), "%s", slurp(a));
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "2", "--segment", "1/2", "--count", "50", "--quiet",
			     "--json", b, NULL);
	cr_expect_eq(rc, 0, "%s%s", out, err);
	rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "merge", a, b, NULL);
	cr_expect_eq(rc, 1, "a merge with an interrupted input exits 1: %s%s", out, err);
	cr_expect_not_null(strstr(out, "1 of them interrupted"), "%s", out);
	cr_expect_not_null(strstr(out, "2 summaries, 2 connections"), "%s", out);
	scratch_remove(dir);
	th_server_stop(&s, SIGTERM);
}

/* Without --segment, the share comes from a launcher's environment, and
 * the first line names it. */
Test(load, the_segment_comes_from_the_launchers_environment, T_OPTS)
{
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	static const char *const envs[][5] = {
		{"OMPI_COMM_WORLD_RANK", "1", "OMPI_COMM_WORLD_SIZE", "2", "segment 1/2 (OMPI_COMM_WORLD_RANK)"},
		{"PMI_RANK", "1", "PMI_SIZE", "2", "segment 1/2 (PMI_RANK)"},
		{"SLURM_PROCID", "1", "SLURM_NTASKS", "2", "segment 1/2 (SLURM_PROCID)"},
		{"JOB_COMPLETION_INDEX", "1", NULL, NULL, "segment 1/2 (JOB_COMPLETION_INDEX)"},
	};
	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		setenv(envs[i][0], envs[i][1], 1);
		if (envs[i][2])
			setenv(envs[i][2], envs[i][3], 1);
		int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
				     port_str(s.port), "--conns", "5", "--count", "3", "--segments", "2", NULL);
		cr_expect_eq(rc, 0, "%s: %s%s", envs[i][0], out, err);
		cr_expect_not_null(strstr(out, "2 connections"), "%s: 5 split in 2, share 1: %s", envs[i][0], out);
		cr_expect_not_null(strstr(out, envs[i][4]), "%s: %s", envs[i][0], out);
		cr_expect_not_null(strstr(out, "messages  6 "), "%s: %s", envs[i][0], out);
		unsetenv(envs[i][0]);
		if (envs[i][2])
			unsetenv(envs[i][2]);
	}
	th_server_stop(&s, SIGTERM);
}

/* The rows of an .hgrm percentile distribution: value, percentile,
 * total count. Returns how many. */
static int hgrm_rows(const char *hgrm, double rows[][3], int max)
{
	int n = 0;
	for (const char *p = hgrm; p && *p && n < max; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		double v, q, c;
		if (*p != '#' && sscanf(p, " %lf %lf %lf", &v, &q, &c) == 3) {
			rows[n][0] = v;
			rows[n][1] = q;
			rows[n][2] = c;
			n++;
		}
	}
	return n;
}

/* --hlog is HdrHistogram's interval log: HdrHistogram's own Java
 * HistogramLogProcessor (Debian's libhdrhistogram-java) reads it, and its
 * count, mean, max and percentiles are echolab's. */
Test(load, hlog_is_read_by_hdrhistograms_own_tools, T_OPTS)
{
	static const char jar[] = "/usr/share/java/hdrhistogram.jar";
	if (access("/usr/bin/java", X_OK) != 0 || access(jar, R_OK) != 0)
		cr_skip_test("no /usr/bin/java or %s (ci/bootstrap installs openjdk-17-jre-headless and "
			     "libhdrhistogram-java): the .hlog was not checked by HdrHistogram", jar);
	struct th_server s;
	th_server_start(&s, "epoll", "--quiet", NULL);
	char dir[64], hlog[96], json[96], outp[96], hgrm[128], own[96];
	scratch(dir, sizeof(dir), "hlog");
	snprintf(own, sizeof(own), "%s/own.hgrm", dir);
	snprintf(hlog, sizeof(hlog), "%s/run.hlog", dir);
	snprintf(json, sizeof(json), "%s/run.json", dir);
	snprintf(outp, sizeof(outp), "%s/hdr", dir);
	snprintf(hgrm, sizeof(hgrm), "%s/hdr.hgrm", dir);
	int rc = th_run_program(tool("ECHOLAB_LOAD"), NULL, out, sizeof(out), err, sizeof(err), "--port",
			     port_str(s.port), "--conns", "8", "--duration", "2.5", "--warmup", "0.3", "--quiet",
			     "--hlog", hlog, "--json", json, "--hgrm", own, NULL);
	cr_assert_eq(rc, 0, "exit %d: %s%s", rc, out, err);
	th_server_stop(&s, SIGTERM);
	const char *log = slurp(hlog);
	cr_expect_eq(strncmp(log, "#[Histogram log format version 1.3]\n", 36), 0, "%s", log);
	cr_expect_geq(count_lines(log), 4 + 3, "an interval a second: %s", log);
	rc = th_run_program("/usr/bin/java", NULL, out, sizeof(out), err, sizeof(err), "-cp", jar,
			 "org.HdrHistogram.HistogramLogProcessor", "-i", hlog, "-o", outp, "-outputValueUnitRatio",
			 "1", NULL);
	cr_assert_eq(rc, 0, "HistogramLogProcessor: exit %d: %s%s", rc, out, err);
	char j[8192];
	snprintf(j, sizeof(j), "%s", slurp(json));
	const char *h = slurp(hgrm);
	double count = -1, mean = -1, max = -1;
	const char *t = strstr(h, "#[Max");
	cr_assert_not_null(t, "%s", h);
	sscanf(t, "#[Max = %lf, Total count = %lf", &max, &count);
	t = strstr(h, "#[Mean");
	cr_assert_not_null(t, "%s", h);
	sscanf(t, "#[Mean = %lf", &mean);
	cr_expect_eq(count, json_num(j, "messages"), "HdrHistogram counts %.0f, echolab %s", count, j);
	const char *rtt = strstr(j, "\"rtt_us\": {");
	cr_assert_not_null(rtt, "%s", j);
	cr_expect_float_eq(mean, json_num(rtt, "mean"), json_num(rtt, "mean") / 128 + 1, "mean %.2f: %s", mean, j);
	cr_expect_float_eq(max, json_num(rtt, "max"), json_num(rtt, "max") / 128 + 1, "max %.0f: %s", max, j);
	/* Row for row, HdrHistogram's distribution of the log and echolab's
	 * own --hgrm (ms) of the same run: the same percentiles with the same
	 * counts below them, and values within a bucket. */
	static double theirs[400][3], ours[400][3];
	int nt = hgrm_rows(h, theirs, 400), no = hgrm_rows(slurp(own), ours, 400);
	/* Each ends with a row at percentile 1 when its count is all in, at
	 * a tick of its own; the rows before either's last match, and both
	 * last rows hold every message. */
	cr_assert_gt(nt, 20, "%s", h);
	cr_assert_gt(no, 20, "%s", slurp(own));
	cr_expect_float_eq(theirs[nt - 1][2], json_num(j, "messages"), 0, "HdrHistogram's last row's count");
	cr_expect_float_eq(ours[no - 1][2], json_num(j, "messages"), 0, "echolab's last row's count");
	int compared = 0;
	for (int i = 0; i < nt - 1 && i < no - 1; i++, compared++) {
		cr_expect_float_eq(theirs[i][1], ours[i][1], 1e-9, "row %d: percentile %.12f and %.12f", i, theirs[i][1],
				   ours[i][1]);
		cr_expect_eq(theirs[i][2], ours[i][2], "row %d (percentile %.6f): count %.0f and %.0f", i, theirs[i][1],
			     theirs[i][2], ours[i][2]);
		double v = ours[i][0] * 1000;
		cr_expect_float_eq(theirs[i][0], v, v / 128 + 1, "row %d: value %.0f and %.0f us", i, theirs[i][0], v);
	}
	cr_expect_geq(compared, 20, "only %d rows compared", compared);
	scratch_remove(dir);
}
