#include "backlog.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "flow.h"
#include "io.h"
#include "netns.h"
#include "supervise.h"

static const char message[] = "backlog\n";

int bl_parse_backlogs(const char *s, struct bl_opts *o)
{
	o->nbacklogs = 0;
	while (*s) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s || v < 0 || v > 65535 || (*end && *end != ',') || o->nbacklogs == BL_MAX_BACKLOGS)
			return -1;
		o->backlogs[o->nbacklogs++] = (int)v;
		s = *end ? end + 1 : end;
	}
	return o->nbacklogs ? o->nbacklogs : -1;
}

void bl_pattern_name(const struct bl_run *r, char *out, size_t len)
{
	if (r->pattern == BL_ONE_BY_ONE)
		snprintf(out, len, "one by one");
	else
		snprintf(out, len, "burst of %d", r->clients);
}

/* ---- one run, in a namespace of its own (a child process) ---- */

enum cstate { C_IDLE, C_CONNECTING, C_WAITING, C_REPLIED, C_FAILED };

struct bl_client {
	int fd;
	enum cstate st;
	size_t got;
	char buf[256];
};

static void client_start(struct bl_client *c, unsigned port)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (c->fd < 0 || (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS))
		c->st = C_FAILED;
	else
		c->st = C_CONNECTING;
}

/* One step of a client that poll found ready. */
static void client_step(struct bl_client *c, short revents, int *replies)
{
	if (c->st == C_CONNECTING && (revents & (POLLOUT | POLLERR | POLLHUP))) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		bool sent = err == 0 && send(c->fd, message, sizeof(message) - 1, MSG_NOSIGNAL) ==
						  (ssize_t)(sizeof(message) - 1);
		c->st = sent ? C_WAITING : C_FAILED;
		return;
	}
	if (c->st != C_WAITING || !(revents & (POLLIN | POLLERR | POLLHUP)))
		return;
	ssize_t n = recv(c->fd, c->buf + c->got, sizeof(c->buf) - 1 - c->got, 0);
	if (n <= 0) {
		c->st = C_FAILED;
		return;
	}
	c->got += (size_t)n;
	c->buf[c->got] = '\0';
	if (strchr(c->buf, '\n')) {
		c->st = C_REPLIED;
		/* echolab's reply ends with the message in brackets. */
		if (strstr(c->buf, "[backlog]\n"))
			(*replies)++;
	} else if (c->got + 1 == sizeof(c->buf)) {
		c->st = C_FAILED;
	}
}

/* Starts the clients on the pattern's schedule and serves them until each
 * has its reply or failed, or hold_s after the last one started; then
 * closes them all at once. Returns the replies read. */
static int drive_clients(const struct bl_opts *o, const struct bl_run *r)
{
	int n = r->clients;
	struct bl_client *c = calloc((size_t)n, sizeof(*c));
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	if (!c || !p) {
		free(c);
		free(p);
		return 0;
	}
	double gap = r->pattern == BL_ONE_BY_ONE ? o->gap_s : 0;
	int64_t t0 = el_io_now_ms(), end = t0 + (int64_t)(1000 * (gap * (n - 1) + o->hold_s));
	int started = 0, replies = 0;
	for (;;) {
		int64_t now = el_io_now_ms();
		while (started < n && now >= t0 + (int64_t)(1000 * gap * started))
			client_start(&c[started++], r->port);
		int open = 0;
		for (int i = 0; i < started; i++) {
			bool live = c[i].st == C_CONNECTING || c[i].st == C_WAITING;
			open += live;
			p[i] = (struct pollfd){.fd = live ? c[i].fd : -1,
					       .events = c[i].st == C_CONNECTING ? POLLOUT : POLLIN};
		}
		if ((started == n && open == 0) || now >= end)
			break;
		int64_t next = started < n ? t0 + (int64_t)(1000 * gap * started) : end;
		int rc = poll(p, (nfds_t)started, (int)(next - now > 0 ? next - now : 0));
		for (int i = 0; rc > 0 && i < started; i++)
			if (p[i].revents)
				client_step(&c[i], p[i].revents, &replies);
	}
	for (int i = 0; i < started; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	free(c);
	free(p);
	return replies;
}

static int start_server(const struct bench_cfg *cfg, const struct bl_opts *o, const struct bl_run *r,
			struct el_sup *s, const char *err_path, char *why, size_t len)
{
	char backlog[16];
	snprintf(backlog, sizeof(backlog), "%d", r->backlog);
	if (!r->traits && r->server[0]) {
		for (int i = 0; i < o->nservers; i++) {
			if (strcmp(o->servers[i].name, r->server) == 0)
				return bench_server_start_cmd(cfg, r->server, o->servers[i].cmd, r->backlog, 2048, s,
							      NULL, err_path, why, len);
		}
	}
	const char *extra[] = {"--quiet", "--backlog", backlog, NULL};
	return bench_server_start_model(cfg, r->server, s, NULL, err_path, extra, why, len);
}

/* The run itself, in the child: a namespace, the server, the capture, the
 * clients; the capture analysed. Fills r. */
static void run_in_namespace(const struct bench_cfg *cfg, const struct bl_opts *o, struct bl_run *r)
{
	if (el_netns_enter_own(r->failure, sizeof(r->failure)) < 0)
		return;
	char path[800], err_path[800];
	snprintf(err_path, sizeof(err_path), "%s/backlog/%s.server.err", cfg->dir, r->stem);
	struct el_sup s;
	if (start_server(cfg, o, r, &s, err_path, r->failure, sizeof(r->failure)) < 0)
		return;
	r->port = s.port;
	struct el_tcp_counters before, after;
	int crc = el_tcp_counters_read(&before);
	snprintf(path, sizeof(path), "%s/backlog/%s.pcap", cfg->dir, r->stem);
	char filter[64];
	snprintf(filter, sizeof(filter), "tcp port %u", s.port);
	struct el_capture_opts co = {.iface = "lo", .filter = filter, .path = path};
	struct el_capture *cap;
	if (el_capture_start(&cap, &co, r->failure, sizeof(r->failure)) < 0) {
		el_sup_stop(&s, SIGTERM, true, 3000, NULL);
		return;
	}
	r->replies = drive_clients(o, r);
	usleep(300000); /* the FINs and their ACKs */
	crc = crc < 0 ? crc : el_tcp_counters_read(&after);
	struct el_capture_stats st;
	int stop = el_capture_stop(cap, &st, r->failure, sizeof(r->failure));
	el_sup_stop(&s, SIGTERM, true, 3000, NULL);
	if (stop < 0)
		return;
	if (st.kernel_drops || st.iface_drops) {
		snprintf(r->failure, sizeof(r->failure), "the capture dropped %llu packets",
			 (unsigned long long)(st.kernel_drops + st.iface_drops));
		return;
	}
	r->listen_overflows = crc < 0 ? -1 : after.listen_overflows - before.listen_overflows;
	r->listen_drops = crc < 0 ? -1 : after.listen_drops - before.listen_drops;
	r->ran = true;
}

/* ---- what the capture shows ---- */

static double event_time(const struct el_flow *f, enum el_flow_event_kind k, enum el_flow_dir d)
{
	for (size_t i = 0; i < f->nevents; i++)
		if (f->events[i].kind == k && f->events[i].dir == d)
			return f->events[i].t;
	return -1;
}

/* The figures of the table from the capture (see struct bl_run). */
static int analyse(const struct bench_cfg *cfg, struct bl_run *r, struct el_flow_table *t)
{
	char path[800];
	snprintf(path, sizeof(path), "%s/backlog/%s.pcap", cfg->dir, r->stem);
	el_flow_table_init(t, (uint16_t)r->port);
	if (el_flow_read_file(t, path, r->failure, sizeof(r->failure)) < 0)
		return -1;
	double close_t = INFINITY;
	for (size_t i = 0; i < t->n; i++) {
		double fin = event_time(&t->flows[i], EL_EV_FIN, EL_C2S);
		if (fin >= 0 && fin < close_t)
			close_t = fin;
	}
	r->flows = (long)t->n;
	r->handshakes = 0;
	r->served = 0;
	r->syn_retransmits = 0;
	r->slowest_s = -1;
	for (size_t i = 0; i < t->n; i++) {
		const struct el_flow *f = &t->flows[i];
		r->handshakes += f->handshake;
		r->syn_retransmits += f->syn_retransmits;
		double syn = event_time(f, EL_EV_SYN, EL_C2S), reply = f->first_data[EL_S2C];
		if (syn < 0 || reply < 0 || reply >= close_t)
			continue;
		r->served++;
		if (reply - syn > r->slowest_s)
			r->slowest_s = reply - syn;
	}
	return 0;
}

/* The timeline's data: one line per mark, "t_s client mark" (mark: the
 * index in marks[]), clients numbered in the order of their first packet. */
enum { MARK_REPLY = -1 }; /* the first payload byte to the client */
static const struct {
	int kind; /* an el_flow_event_kind, or MARK_REPLY */
	const char *title, *style;
} marks[] = {
	{EL_EV_SYN, "first SYN", "pt 6 ps 1.2 lc rgb '#1f77b4'"},
	{EL_EV_SYN_RETX, "SYN sent again", "pt 2 ps 1.6 lc rgb '#d62728'"},
	{EL_EV_ESTABLISHED, "handshake completed", "pt 8 ps 1.2 lc rgb '#2ca02c'"},
	{MARK_REPLY, "first reply", "pt 7 ps 1.0 lc rgb '#000000'"},
	{EL_EV_FIN, "FIN from the client", "pt 5 ps 0.8 lc rgb '#9467bd'"},
};
enum { NMARKS = sizeof(marks) / sizeof(marks[0]) };

static int write_timeline_data(const char *path, const struct el_flow_table *t, int counts[NMARKS])
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "# t_s client mark; marks:");
	for (int m = 0; m < NMARKS; m++)
		fprintf(f, " %d %s%s", m, marks[m].title, m + 1 < NMARKS ? "," : "\n");
	for (int m = 0; m < NMARKS; m++) {
		counts[m] = 0;
		for (size_t i = 0; i < t->n; i++) {
			const struct el_flow *fl = &t->flows[i];
			if (marks[m].kind == MARK_REPLY) {
				if (fl->first_data[EL_S2C] >= 0) {
					fprintf(f, "%.6f %zu %d\n", fl->first_data[EL_S2C], i + 1, m);
					counts[m]++;
				}
				continue;
			}
			for (size_t k = 0; k < fl->nevents; k++) {
				if ((int)fl->events[k].kind != marks[m].kind || fl->events[k].dir != EL_C2S)
					continue;
				fprintf(f, "%.6f %zu %d\n", fl->events[k].t, i + 1, m);
				counts[m]++;
			}
		}
	}
	return fclose(f) == 0 ? 0 : -EIO;
}

static int write_timeline(const struct bench_cfg *cfg, const struct bl_run *r, const struct el_flow_table *t)
{
	char path[800], pattern[32];
	snprintf(path, sizeof(path), "%s/backlog/%s.dat", cfg->dir, r->stem);
	int counts[NMARKS];
	if (write_timeline_data(path, t, counts) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/backlog/%s.gp", cfg->dir, r->stem);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	bl_pattern_name(r, pattern, sizeof(pattern));
	char body[4096];
	int n = snprintf(body, sizeof(body),
			 "set title \"%s, backlog %d, %s: %d of %d served; the kernel's ListenOverflows %ld, "
			 "ListenDrops %ld\" noenhanced\n"
			 "set xlabel 'seconds since the first packet'\nset ylabel 'client (in order of its "
			 "first SYN)'\nset yrange [%ld:0.5]\nset xrange [-0.1:*]\nset grid xtics\n"
			 "set key outside below horizontal\nplot ",
			 r->server, r->backlog, pattern, r->served, r->clients, r->listen_overflows,
			 r->listen_drops, r->flows + 1 > 2 ? r->flows + 1 : 2);
	bool first = true;
	for (int m = 0; m < NMARKS && n > 0 && (size_t)n < sizeof(body); m++) {
		if (!counts[m])
			continue;
		n += snprintf(body + n, sizeof(body) - (size_t)n, "%s'%s.dat' using 1:($3 == %d ? $2 : NaN) with points %s title '%s'",
			      first ? "" : ", ", r->stem, m, marks[m].style, marks[m].title);
		first = false;
	}
	if (first)
		n += snprintf(body + n, sizeof(body) - (size_t)n, "NaN title 'no packets captured'");
	fprintf(f, "set terminal svg size 820,%d dynamic font 'sans,11' background '#ffffff'\n"
		   "set output '%s.svg'\n%s\n",
		360 + 12 * r->clients, r->stem, body);
	fprintf(f, "set terminal pngcairo size 820,%d font 'sans,10'\nset output '%s.png'\n%s\nunset output\n",
		360 + 12 * r->clients, r->stem, body);
	if (fclose(f) != 0)
		return -1;
	char dir[700], script[200];
	snprintf(dir, sizeof(dir), "%s/backlog", cfg->dir);
	snprintf(script, sizeof(script), "%s.gp", r->stem);
	return bench_gnuplot(dir, script) ? 0 : -1;
}

/* The analyser's own JSON of the capture, from echolab-pcap. */
static void write_json(const struct bench_cfg *cfg, const struct bl_opts *o, const struct bl_run *r)
{
	char pcap[800], json[800], port[16];
	snprintf(pcap, sizeof(pcap), "%s/backlog/%s.pcap", cfg->dir, r->stem);
	snprintf(json, sizeof(json), "%s/backlog/%s.json", cfg->dir, r->stem);
	snprintf(port, sizeof(port), "%u", r->port);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(json, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		execl(o->pcap_tool, o->pcap_tool, "summarize", pcap, "--port", port, "--json", (char *)NULL);
		_exit(127);
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "echolab-bench: %s summarize %s failed\n", o->pcap_tool, pcap);
}

/* Runs one run in a child in its own namespace; the child hands back its
 * figures through a pipe. */
static void run_one(const struct bench_cfg *cfg, const struct bl_opts *o, struct bl_run *r)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(r->failure, sizeof(r->failure), "pipe: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		signal(SIGINT, SIG_IGN);
		run_in_namespace(cfg, o, r);
		ssize_t w = write(fds[1], r, sizeof(*r));
		_exit(w == (ssize_t)sizeof(*r) ? 0 : 1);
	}
	close(fds[1]);
	if (pid < 0) {
		snprintf(r->failure, sizeof(r->failure), "fork: %s", strerror(errno));
		close(fds[0]);
		return;
	}
	struct pollfd p = {.fd = fds[0], .events = POLLIN};
	int limit_ms = (int)(1000 * (o->hold_s + o->gap_s * r->clients)) + 30000;
	struct bl_run got;
	if (poll(&p, 1, limit_ms) == 1 && read(fds[0], &got, sizeof(got)) == (ssize_t)sizeof(got))
		*r = got;
	else
		snprintf(r->failure, sizeof(r->failure), "the run did not finish within %d s", limit_ms / 1000);
	close(fds[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (!r->ran)
		return;
	struct el_flow_table t;
	if (analyse(cfg, r, &t) == 0) {
		write_timeline(cfg, r, &t);
		write_json(cfg, o, r);
	} else {
		r->ran = false;
	}
	el_flow_table_finish(&t);
}

/* ---- the report ---- */

void bl_claim(const struct bl_run *r, char *out, size_t len)
{
	char pattern[32], what[64];
	bl_pattern_name(r, pattern, sizeof(pattern));
	if (r->syn_retransmits == 0)
		snprintf(what, sizeof(what), "no SYN sent again");
	else
		snprintf(what, sizeof(what), "%u SYN%s sent again", r->syn_retransmits,
			 r->syn_retransmits == 1 ? "" : "s");
	const char *verdict;
	if (!r->traits)
		verdict = "(a server by command: the lab's claim is about its iterative and fork servers)";
	else if (r->traits & EL_TRAIT_SEQUENTIAL)
		verdict = r->syn_retransmits ? "the lab's finding holds (a sequential server's waiting clients "
					       "send their SYNs again)"
					     : "the lab's finding does not hold in this run (it expects SYNs "
					       "sent again)";
	else
		verdict = r->syn_retransmits ? "the lab's finding does not hold here (it expects none)"
					     : "the lab's finding holds";
	snprintf(out, len, "%s, backlog %d, %s: %s; %d of %d served; %s.", r->server, r->backlog, pattern,
		 what, r->served, r->clients, verdict);
}

/* Why the numbers of a run are what they are, where a reader would ask:
 * a claim that does not hold, clients with no reply, more listen drops
 * than SYNs sent again. Empty when nothing needs explaining. */
static void bl_reason(const struct bl_run *r, const struct bl_opts *o, bool html, char *out, size_t len)
{
	size_t n = 0;
	out[0] = 0;
	if (r->traits && !(r->traits & EL_TRAIT_SEQUENTIAL) && r->syn_retransmits)
		n += (size_t)snprintf(out + n, len - n,
				      " Why: with backlog 1 the kernel keeps at most 2 finished handshakes waiting "
				      "for accept(2); %s fill that queue faster than any server accepts, so the "
				      "kernel dropped the others' SYNs and their clients sent them again. The burst "
				      "did it, not the model.",
				      r->pattern == BL_ONE_BY_ONE ? "clients arriving while it is full" : "clients at once");
	if (n < len && r->listen_drops > (long)r->syn_retransmits)
		n += (size_t)snprintf(out + n, len - n,
				      " The %ld listen drops count every packet dropped at the full queue: the "
				      "handshakes' last ACKs and the data sent behind them too, not only SYNs, so "
				      "they exceed the %u SYNs sent again.",
				      r->listen_drops, r->syn_retransmits);
	if (n < len && r->served < r->clients)
		n += (size_t)snprintf(out + n, len - n,
				      " %d of %d got no reply within the %.1f s the clients hold: a client whose SYN or "
				      "last ACK the full queue dropped tries again only a second or more later (the "
				      "kernel's back-off)%s.",
				      r->clients - r->served, r->clients, o->hold_s,
				      (r->traits & EL_TRAIT_SEQUENTIAL)
					      ? ", and a sequential server answers one client at a time, each after the "
						"one before it closed"
					      : "");
	if (n > 0 && n < len)
		snprintf(out + n, len - n, " (docs/bench.md, %sWhy SYNs are sent again%s)", html ? "<i>" : "\"",
			 html ? "</i>" : "\"");
}

void bl_table_row(const struct bl_run *r, char *out, size_t len)
{
	char pattern[32], slowest[32];
	bl_pattern_name(r, pattern, sizeof(pattern));
	if (r->slowest_s >= 0)
		snprintf(slowest, sizeof(slowest), "%.3f", r->slowest_s);
	else
		snprintf(slowest, sizeof(slowest), "-");
	snprintf(out, len, "| %s | %s | %d of %d | %u | %s | %ld |", r->server, pattern, r->served, r->clients,
		 r->syn_retransmits, slowest, r->listen_drops);
}

static int write_csv(const struct bench_cfg *cfg, const struct bl_run *runs, int n)
{
	char path[800];
	snprintf(path, sizeof(path), "%s/backlog/summary.csv", cfg->dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "server,traits,backlog,pattern,clients,served,syn_retransmits,slowest_s,"
		   "listen_overflows,listen_drops,flows,handshakes,replies,port,stem\n");
	for (int i = 0; i < n; i++) {
		const struct bl_run *r = &runs[i];
		if (!r->ran)
			continue;
		/* Space-separated: the column's commas would split it. */
		char traits[256];
		el_traits_format(r->traits, " ", traits, sizeof(traits));
		fprintf(f, "%s,%s,%d,%s,%d,%d,%u,%.6f,%ld,%ld,%ld,%ld,%d,%u,%s\n", r->server, traits,
			r->backlog, r->pattern == BL_ONE_BY_ONE ? "one-by-one" : "burst", r->clients, r->served,
			r->syn_retransmits, r->slowest_s, r->listen_overflows, r->listen_drops, r->flows,
			r->handshakes, r->replies, r->port, r->stem);
	}
	return fclose(f) == 0 ? 0 : -1;
}

static void section(FILE *f, bool html, const struct bl_opts *o, const struct bl_run *runs, int n)
{
	fprintf(f, html ? "<h2>The backlog experiment</h2>\n<p>" : "## The backlog experiment\n\n");
	fprintf(f, "The lab found, in Wireshark, that with a listen backlog of 1 the iterative server's "
		   "clients sent their SYNs again and the fork server's did not. Each run here starts the "
		   "server with that backlog in a network namespace of its own, captures its port on lo, "
		   "and starts clients that connect, send one message and hold their connection: %d one "
		   "by one, %.1f s apart (as the lab did by hand), or %d at once. The clients close "
		   "together when each has its reply, or %.1f s after the last one started. A client is "
		   "served when the capture holds its reply before the first client's FIN.%s\n",
		o->one_by_one, o->gap_s, o->burst, o->hold_s, html ? "</p>" : "\n");
	fprintf(f, html ? "<h3>The lab's claim, run by run (backlog 1)</h3>\n<ul>\n"
			: "### The lab's claim, run by run (backlog 1)\n\n");
	for (int i = 0; i < n; i++) {
		if (!runs[i].ran || runs[i].backlog != 1)
			continue;
		char line[512], why[1200];
		bl_claim(&runs[i], line, sizeof(line));
		bl_reason(&runs[i], o, html, why, sizeof(why));
		fprintf(f, html ? "<li>%s%s</li>\n" : "- %s%s\n", line, why);
	}
	fprintf(f, html ? "</ul>\n" : "\n");
	for (int b = 0; b < o->nbacklogs; b++) {
		fprintf(f, html ? "<h3>Backlog %d</h3>\n<table>\n<tr><th>server</th><th>pattern</th><th>clients "
				  "served</th><th>SYNs sent again</th><th>slowest first reply (s)</th><th>listen "
				  "drops</th></tr>\n"
				: "### Backlog %d\n\n| server | pattern | clients served | SYNs sent again | slowest "
				  "first reply (s) | listen drops |\n|---|---|---|---|---|---|\n",
			o->backlogs[b]);
		for (int i = 0; i < n; i++) {
			const struct bl_run *r = &runs[i];
			if (r->backlog != o->backlogs[b])
				continue;
			char row[512], pattern[32];
			bl_pattern_name(r, pattern, sizeof(pattern));
			if (!r->ran && html)
				fprintf(f, "<tr><td>%s</td><td>%s</td><td colspan=\"4\">did not run: %s</td></tr>\n",
					r->server, pattern, r->failure);
			else if (!r->ran)
				fprintf(f, "| %s | %s | did not run: %s | | | |\n", r->server, pattern, r->failure);
			else {
				bl_table_row(r, row, sizeof(row));
				if (!html) {
					fprintf(f, "%s\n", row);
					continue;
				}
				fprintf(f, "<tr>");
				/* The markdown row's cells, as HTML cells. */
				for (char *cell = strtok(row + 1, "|"); cell; cell = strtok(NULL, "|")) {
					while (*cell == ' ')
						cell++;
					size_t l = strlen(cell);
					while (l && cell[l - 1] == ' ')
						cell[--l] = '\0';
					if (l)
						fprintf(f, "<td>%s</td>", cell);
				}
				fprintf(f, "</tr>\n");
			}
		}
		fprintf(f, html ? "</table>\n" : "\n");
	}
}

static void timelines(FILE *f, bool html, const struct bench_cfg *cfg, const struct bl_run *runs, int n)
{
	fprintf(f, html ? "<h3>Timelines</h3>\n<p>" : "### Timelines\n\n");
	fprintf(f, "One row per client, in the order of its first SYN: its first SYN (circle), every SYN "
		   "it sent again (cross), its handshake completed (triangle), its first reply (dot) and its "
		   "FIN (square), in seconds from the run's first packet.%s\n",
		html ? "</p>" : "\n");
	for (int i = 0; i < n; i++) {
		const struct bl_run *r = &runs[i];
		if (!r->ran)
			continue;
		char name[128], pattern[32];
		bl_pattern_name(r, pattern, sizeof(pattern));
		snprintf(name, sizeof(name), "backlog/%s", r->stem);
		if (html)
			bench_inline_svg(f, cfg, name);
		else
			fprintf(f, "![%s, backlog %d, %s](%s.png)\n\n", r->server, r->backlog, pattern, name);
	}
}

static int write_report(const struct bench_cfg *cfg, const struct bl_opts *o, const struct bl_run *runs, int n)
{
	int rc = 0;
	for (int html = 0; html < 2; html++) {
		char path[800];
		snprintf(path, sizeof(path), "%s/%s", cfg->dir, html ? "report.html" : "report.md");
		FILE *f = fopen(path, "w");
		if (!f) {
			rc = -1;
			continue;
		}
		bench_report_head(f, html, cfg, "echolab: the backlog experiment", "echolab: the backlog experiment");
		section(f, html, o, runs, n);
		timelines(f, html, cfg, runs, n);
		fprintf(f, html ? "<h2>Files</h2>\n<p>" : "## Files\n\n");
		fprintf(f, "backlog/summary.csv (the tables' numbers), and per run in backlog/: NAME.pcap (the "
			   "capture; Wireshark opens it), NAME.json (echolab-pcap summarize --json of it), NAME.dat "
			   "and NAME.gp (the timeline's data and script), NAME.svg and NAME.png, NAME.server.err.%s\n",
			html ? "</p>\n</body></html>" : "");
		if (fclose(f) != 0)
			rc = -1;
	}
	return rc;
}

/* ---- the experiment ---- */

static int plan(const struct bench_cfg *cfg, const struct bl_opts *o, struct bl_run **out)
{
	int nservers = cfg->nmodels + o->nservers;
	int total = nservers * o->nbacklogs * 2;
	struct bl_run *runs = calloc((size_t)(total ? total : 1), sizeof(*runs));
	if (!runs)
		return -1;
	int k = 0;
	for (int b = 0; b < o->nbacklogs; b++) {
		for (int s = 0; s < nservers; s++) {
			for (int p = 0; p < 2; p++) {
				struct bl_run *r = &runs[k++];
				bool model = s < cfg->nmodels;
				snprintf(r->server, sizeof(r->server), "%s",
					 model ? cfg->models[s] : o->servers[s - cfg->nmodels].name);
				r->traits = model ? cfg->traits[s] : 0;
				r->backlog = o->backlogs[b];
				r->pattern = p ? BL_BURST : BL_ONE_BY_ONE;
				r->clients = p ? o->burst : o->one_by_one;
				r->slowest_s = -1;
				snprintf(r->stem, sizeof(r->stem), "%s-b%d-%s", r->server, r->backlog,
					 p ? "burst" : "one-by-one");
			}
		}
	}
	*out = runs;
	return total;
}

int bench_backlog_experiment(const struct bench_cfg *cfg, const struct bl_opts *o)
{
	char dir[700];
	snprintf(dir, sizeof(dir), "%s/backlog", cfg->dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "echolab-bench: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	struct bl_run *runs;
	int n = plan(cfg, o, &runs);
	if (n < 0)
		return 1;
	fprintf(stderr, "echolab-bench: the backlog experiment, %d runs; writing %s\n", n, cfg->dir);
	int failed = 0;
	bool no_root = false;
	char root_why[256] = "";
	for (int i = 0; i < n && !*cfg->stop; i++) {
		struct bl_run *r = &runs[i];
		char pattern[32];
		bl_pattern_name(r, pattern, sizeof(pattern));
		if (no_root) {
			snprintf(r->failure, sizeof(r->failure), "%s", root_why);
			continue;
		}
		run_one(cfg, o, r);
		if (!r->ran && strstr(r->failure, "unshare")) {
			fprintf(stderr, "echolab-bench: the backlog experiment needs root: %s\n", r->failure);
			snprintf(root_why, sizeof(root_why), "%s", r->failure);
			no_root = true;
			failed++;
			continue;
		}
		if (!r->ran) {
			failed++;
			fprintf(stderr, "[%d/%d] %s, backlog %d, %s: did not run: %s\n", i + 1, n, r->server,
				r->backlog, pattern, r->failure);
			continue;
		}
		fprintf(stderr, "[%d/%d] %s, backlog %d, %s: %d of %d served, %u SYNs sent again, listen drops %ld\n",
			i + 1, n, r->server, r->backlog, pattern, r->served, r->clients, r->syn_retransmits,
			r->listen_drops);
	}
	int rc = write_csv(cfg, runs, n) == 0 && write_report(cfg, o, runs, n) == 0 ? 0 : 1;
	printf("%s/report.md\n", cfg->dir);
	free(runs);
	if (*cfg->stop)
		return 130;
	return rc || failed ? 1 : 0;
}
