/* Hostile clients, once per model: 10,000 connections that never send
 * (slowloris) against --idle-timeout, a connect storm beyond --max-conns,
 * a client beyond --max-conns that never stops sending, 1,000 clients
 * that reset in the middle of their replies, and a SIGTERM in the middle
 * of load that must not drop a message the server read.
 * Each ends with the server still serving and holding no more than it
 * held before. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "io.h"

#define T_OPTS .timeout = 300

/* A socket connecting to the server, non-blocking: returns the fd, the
 * connect under way or done. */
static int connect_nb(const struct th_server *s)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	cr_assert(rc == 0 || errno == EINPROGRESS, "connect: %s", strerror(errno));
	return fd;
}

/* How a hostile connection ended, as its client saw it. */
enum outcome { OPEN, EOF_QUIET, BUSY, REFUSED, RESET, OTHER };

struct peer {
	int fd;
	const char *hello; /* sent once connected, if set */
	int64_t t_open, t_end;
	enum outcome how;
	char got[32];
	size_t ngot;
};

/* Reads what a peer has: the "! busy" line or nothing, then EOF. */
static void peer_read(struct peer *p)
{
	char buf[256];
	for (;;) {
		ssize_t n = recv(p->fd, buf, sizeof(buf), 0);
		if (n > 0) {
			size_t k = (size_t)n < sizeof(p->got) - p->ngot ? (size_t)n : sizeof(p->got) - p->ngot;
			memcpy(p->got + p->ngot, buf, k);
			p->ngot += k;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		p->t_end = el_io_now_ms();
		if (n == 0 && p->ngot == 0)
			p->how = EOF_QUIET;
		else if (n == 0 && p->ngot == 7 && memcmp(p->got, "! busy\n", 7) == 0)
			p->how = BUSY;
		else if (n < 0 && errno == ECONNREFUSED)
			p->how = REFUSED;
		else if (n < 0 && errno == ECONNRESET)
			p->how = RESET;
		else
			p->how = OTHER;
		close(p->fd);
		p->fd = -1;
		return;
	}
}

/* Waits until every peer has ended or the deadline passes; returns how
 * many are still open. */
static int wait_peers(struct peer *v, int n, int64_t deadline)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	cr_assert_geq(ep, 0);
	int open = 0;
	for (int i = 0; i < n; i++) {
		if (v[i].fd < 0)
			continue;
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (v[i].hello ? EPOLLOUT : 0),
					 .data.u32 = (uint32_t)i};
		cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, v[i].fd, &ev), 0);
		open++;
	}
	struct epoll_event evs[256];
	while (open > 0 && el_io_now_ms() < deadline) {
		int k = epoll_wait(ep, evs, 256, 100);
		for (int j = 0; j < k; j++) {
			struct peer *p = &v[evs[j].data.u32];
			if (p->hello && (evs[j].events & EPOLLOUT)) {
				/* Once: a line, as any real client sends one. */
				(void)!send(p->fd, p->hello, strlen(p->hello), MSG_NOSIGNAL);
				p->hello = NULL;
				struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = evs[j].data.u32};
				epoll_ctl(ep, EPOLL_CTL_MOD, p->fd, &ev);
			}
			peer_read(p);
			open -= p->fd < 0;
		}
	}
	close(ep);
	return open;
}

/* The server's holdings once it has served a client (every uring ring and
 * epoll loop is up by then). */
static void usage_at_rest(struct th_server *s, struct th_server_usage *u)
{
	struct th_client c;
	th_client_open(&c, s);
	th_client_send_str(&c, "warm\n");
	th_client_expect_echo(&c, "warm", 4);
	th_client_close(&c);
	usleep(200000);
	th_server_usage(s, u);
}

static void expect_served(struct th_server *s)
{
	struct th_client c;
	th_client_open(&c, s);
	th_client_send_str(&c, "still here\n");
	th_client_expect_echo_within(&c, "still here", 10, 5000);
	th_client_close(&c);
}

/* The fds the server's main process holds and its processes, once the
 * clients are gone: back to what they were before (children and their
 * fds leave within a few seconds). */
static void expect_back_to(struct th_server *s, const struct th_server_usage *before, const char *what)
{
	struct th_server_usage now = {0};
	/* The prefork pool keeps spare workers as it sees fit: only its
	 * parent's fds are compared. */
	bool pool = harness_param && th_model_has(harness_param, EL_TRAIT_PROCESS_POOL);
	int64_t deadline = el_io_now_ms() + 5000LL * th_slow_factor();
	do {
		usleep(50000);
		th_server_usage(s, &now);
	} while ((now.fds > before->fds || now.zombies > 0 ||
		  (!pool && (now.procs > before->procs || now.threads > before->threads))) &&
		 el_io_now_ms() < deadline);
	cr_expect_leq(now.fds, before->fds, "%s: after %s the server holds %ld fds, %ld before", harness_model,
		      what, now.fds, before->fds);
	cr_expect_eq(now.zombies, 0, "%s: after %s %ld zombies", harness_model, what, now.zombies);
	if (pool)
		return;
	cr_expect_leq(now.procs, before->procs, "%s: after %s %ld processes, %ld before", harness_model, what,
		      now.procs, before->procs);
	cr_expect_leq(now.threads, before->threads, "%s: after %s %ld threads, %ld before", harness_model,
		      what, now.threads, before->threads);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Slowloris: 10,000 connections that never send a byte, against
 * --idle-timeout 2. Every one ends cleanly (FIN, or "! busy" then FIN
 * where the model holds fewer), none before its 2 s, none hangs; a client
 * during the attack is answered (or told "! busy" at once by the models
 * that hold a bounded number: iterative, prefork); afterwards the server
 * holds what it held before. */
MODEL_TEST(slowloris_ten_thousand_idle_are_closed_on_time, T_OPTS)
{
	int n = 10000 / th_slow_factor();
	th_raise_nofile();
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < (rlim_t)n + 64)
		cr_skip_test("RLIMIT_NOFILE hard limit %ld is below the %d fds this test needs", (long)rl.rlim_cur,
			     n + 64);
	bool sequential = th_model_is_sequential(param);
	bool bounded = sequential || th_model_has(param, EL_TRAIT_PROCESS_POOL);
	struct th_server s;
	/* iterative: one served, one waiting in its queue, the rest busy;
	 * prefork: its default pool maximum (256 workers). */
	th_server_start(&s, param->name, "--quiet", "--idle-timeout", "2", "--backlog", "4096", "--max-conns",
		     sequential ? "2" : th_model_has(param, EL_TRAIT_PROCESS_POOL) ? "256" : "0", NULL);
	struct th_server_usage before;
	usage_at_rest(&s, &before);
	struct peer *v = calloc((size_t)n, sizeof(*v));
	for (int i = 0; i < n; i++) {
		v[i].fd = connect_nb(&s);
		v[i].t_open = el_io_now_ms();
	}
	/* During the attack: answered, or refused at once. */
	struct th_client c;
	th_client_open(&c, &s);
	th_client_send_str(&c, "during\n");
	uint8_t *line = NULL;
	ssize_t len = th_client_try_line(&c, &line, bounded ? 2000 : 5000);
	if (bounded)
		cr_expect(len > 0 && (line[0] == '[' || strcmp((char *)line, "! busy\n") == 0),
			  "%s: a client during the attack got %zd: %s", param->name, len, len > 0 ? (char *)line : "");
	else
		cr_expect(len > 0 && line[0] == '[', "%s: a client during the attack got %zd: %s", param->name,
			  len, len > 0 ? (char *)line : "");
	free(line);
	th_client_close(&c);

	/* The bounded models' waiting connections start their clocks when a
	 * held one ends: iterative's one waiting place, and prefork's accept
	 * queue, which its workers and its parent (answering "! busy") both
	 * take from, so a connection can wait out a worker's idle timeout or
	 * two (8 s seen with the other suites running). */
	int64_t idle = 2000, slack = 5000LL * th_slow_factor();
	int open = wait_peers(v, n, el_io_now_ms() + 2 * idle + slack + 5000LL * th_slow_factor());
	cr_expect_eq(open, 0, "%s: %d of %d idle connections still open", param->name, open, n);
	int quiet = 0, busy = 0, other = 0, early = 0, late = 0;
	int64_t *delay = calloc((size_t)n, sizeof(*delay));
	for (int i = 0; i < n; i++) {
		if (v[i].fd >= 0)
			close(v[i].fd);
		if (v[i].how == BUSY) {
			busy++;
			continue;
		}
		if (v[i].how != EOF_QUIET) {
			other++;
			continue;
		}
		int64_t d = v[i].t_end - v[i].t_open;
		delay[quiet++] = d;
		early += d < idle - 20;
		late += d > (bounded ? 3 * idle : idle) + slack;
	}
	qsort(delay, (size_t)quiet, sizeof(*delay), cmp_i64);
	cr_log_info("%s: %d idle connections: %d closed by the idle timeout (after %lld ms median, %lld max), "
		    "%d busy, %d otherwise",
		    param->name, n, quiet, quiet ? (long long)delay[quiet / 2] : 0LL,
		    quiet ? (long long)delay[quiet - 1] : 0LL, busy, other);
	cr_expect_eq(other, 0, "%s: %d connections ended otherwise (reset, refused, stray bytes)", param->name,
		     other);
	cr_expect_eq(early, 0, "%s: %d closed before the 2 s idle timeout", param->name, early);
	cr_expect_eq(late, 0, "%s: %d closed later than %lld ms", param->name, late,
		     (long long)((bounded ? 3 * idle : idle) + slack));
	if (!bounded)
		cr_expect_eq(busy, 0, "%s holds every connection, yet %d were busy", param->name, busy);
	else
		cr_expect_gt(quiet, 0);
	free(delay);
	free(v);
	expect_served(&s);
	expect_back_to(&s, &before, "the slowloris");
	th_server_stop(&s, SIGTERM);
}

/* A storm of 1,000 connects beyond --max-conns, each sending a line once
 * connected: each is told "! busy" (then FIN) within seconds (a refusal,
 * which only a full accept queue or a gone listener makes, fails); none
 * hangs, and the clients the server holds are served
 * throughout. (A storm client that sent nothing could wait forever: past
 * a full accept queue the kernel answers with SYN cookies, and drops the
 * handshake's last ACK, so only the client's data completes it.) */
MODEL_TEST(connect_storm_beyond_max_conns_is_told_busy, T_OPTS)
{
	enum { STORM = 1000 };
	int n = STORM / th_slow_factor();
	th_raise_nofile();
	bool sequential = th_model_is_sequential(param);
	int max = sequential ? 2 : 20, holders = sequential ? 1 : max;
	char maxs[16];
	snprintf(maxs, sizeof(maxs), "%d", max);
	struct th_server s;
	/* An accept queue with room for the storm: with --backlog 64 the
	 * kernel itself drops SYNs and handshake ACKs, and its retransmission
	 * backoff (1 s, 3 s, 7 s, 15 s) made the last clients wait 13 s, and
	 * 20 s for some of prefork's, whatever the server did. */
	th_server_start(&s, param->name, "--quiet", "--max-conns", maxs, "--backlog", "1024", NULL);
	struct th_server_usage before;
	usage_at_rest(&s, &before);
	struct th_client h[20], waiting;
	char msg[32];
	for (int i = 0; i < holders; i++) {
		th_client_open(&h[i], &s);
		int len = snprintf(msg, sizeof(msg), "holder %d", i);
		th_client_send(&h[i], msg, (size_t)len);
		th_client_send_str(&h[i], "\n");
		th_client_expect_echo(&h[i], msg, (size_t)len);
	}
	/* The iterative model's one waiting place is taken too. */
	if (sequential) {
		th_client_open(&waiting, &s);
		th_client_send_str(&waiting, "waiting\n");
		usleep(100000);
	}
	struct peer *v = calloc((size_t)n, sizeof(*v));
	int64_t t0 = el_io_now_ms();
	for (int i = 0; i < n; i++) {
		v[i].fd = connect_nb(&s);
		v[i].t_open = el_io_now_ms();
		v[i].hello = "storm\n";
	}
	int open = wait_peers(v, n, t0 + 10000LL * th_slow_factor());
	int busy = 0, refused = 0, other = 0;
	int64_t most = 0;
	for (int i = 0; i < n; i++) {
		if (v[i].fd >= 0)
			close(v[i].fd);
		busy += v[i].how == BUSY;
		refused += v[i].how == REFUSED;
		other += v[i].how != BUSY && v[i].how != REFUSED && v[i].how != OPEN;
		if (v[i].how != OPEN && v[i].t_end - v[i].t_open > most)
			most = v[i].t_end - v[i].t_open;
	}
	cr_log_info("%s: a storm of %d beyond --max-conns %d: %d busy, %d refused, %d otherwise, %d hung; "
		    "the slowest answered in %lld ms",
		    param->name, n, max, busy, refused, other, open, (long long)most);
	cr_expect_eq(open, 0, "%s: %d storm connections hung", param->name, open);
	cr_expect_eq(other, 0, "%s: %d storm connections ended otherwise", param->name, other);
	/* With room in the accept queue nothing is refused: every one is told. */
	cr_expect_eq(busy, n, "%s: %d of %d storm connections told \"! busy\" (%d refused)", param->name, busy, n,
		     refused);
	for (int i = 0; i < holders; i++) {
		int len = snprintf(msg, sizeof(msg), "after %d", i);
		th_client_send(&h[i], msg, (size_t)len);
		th_client_send_str(&h[i], "\n");
		th_client_expect_echo(&h[i], msg, (size_t)len);
		th_client_close(&h[i]);
	}
	if (sequential) {
		th_client_expect_echo(&waiting, "waiting", 7);
		th_client_close(&waiting);
	}
	free(v);
	expect_served(&s);
	expect_back_to(&s, &before, "the storm");
	th_server_stop(&s, SIGTERM);
}

/* 1,000 clients, 50 at a time, each sends 400 messages at once, reads the
 * start of its replies and resets: the server survives every one, serves
 * on, and holds nothing of them afterwards. */
MODEL_TEST(a_thousand_resets_mid_reply_leave_nothing, T_OPTS)
{
	enum { CLIENTS = 1000, WAVE = 50, LINES = 400 };
	int n = CLIENTS / th_slow_factor();
	struct th_server s;
	th_server_start(&s, param->name, "--quiet", "--backlog", "256", NULL);
	struct th_server_usage before;
	usage_at_rest(&s, &before);
	static char burst[LINES * 50];
	for (size_t i = 0; i < sizeof(burst); i++)
		burst[i] = i % 50 == 49 ? '\n' : (char)('a' + i % 26);
	int wave = WAVE, reset = 0;
	for (int done = 0; done < n; done += wave) {
		int k = n - done < wave ? n - done : wave;
		struct th_client c[WAVE];
		for (int i = 0; i < k; i++) {
			th_client_open(&c[i], &s);
			th_client_send(&c[i], burst, sizeof(burst));
		}
		for (int i = 0; i < k; i++) {
			uint8_t *line = NULL;
			ssize_t len = th_client_try_line(&c[i], &line, 5000);
			cr_expect(len > 0 && line[0] == '[', "%s: client %d got %zd before its reset", param->name,
				  done + i, len);
			free(line);
			th_client_reset(&c[i]);
			reset++;
		}
	}
	cr_log_info("%s: %d clients reset mid-reply", param->name, reset);
	expect_served(&s);
	expect_back_to(&s, &before, "the resets");
	th_server_stop(&s, SIGTERM);
}

/* One loaded client of the SIGTERM case. */
struct loader {
	int fd;
	long sent, replies; /* messages sent whole, replies read */
	char out[64];
	size_t out_len, out_off;
	char in[8192];
	size_t in_len;
	bool ended;
	long nwrong; /* replies that were not the next echo */
	char wrong[160];
};

/* Checks and counts the complete reply lines in l->in: each must be the
 * echo of this client's next message, "c<i> m<seq>". */
static void loader_lines(struct loader *l, int i)
{
	char *start = l->in, *lf;
	while ((lf = memchr(start, '\n', l->in_len - (size_t)(start - l->in)))) {
		*lf = '\0';
		char *open = start, *close = strrchr(start, ']');
		for (int k = 0; k < 4 && open; k++)
			open = strchr(open + (k > 0), '[');
		int ci = -1;
		long seq = -1;
		/* Criterion's assertions cost a message to its runner each:
		 * checked here, reported once. */
		if (!open || !close || sscanf(open, "[c%d m%ld]", &ci, &seq) != 2 || ci != i ||
		    seq != l->replies) {
			if (!l->wrong[0])
				snprintf(l->wrong, sizeof(l->wrong), "expected message %ld, got %.80s", l->replies,
					 start);
			l->nwrong++;
		}
		l->replies++;
		start = lf + 1;
	}
	l->in_len -= (size_t)(start - l->in);
	memmove(l->in, start, l->in_len);
}

/* A client beyond --max-conns that never stops sending, reconnecting
 * whenever it is closed: each of its connections is told "! busy" and
 * closed after at most 64 KiB of what it sent, and a SIGTERM in the
 * middle of it stops the server on time. The busy reply once read such a
 * client until it paused, which could keep the accepting thread there for
 * as long as the client sent; here one client never outran those reads
 * (this test passed without the bound too), so it guards the stop, not
 * the bound. */
MODEL_TEST(a_flood_beyond_max_conns_does_not_hold_the_stop, T_OPTS)
{
	bool sequential = th_model_is_sequential(param);
	struct th_server s;
	/* iterative: one served and one waiting, as in the storm above. */
	th_server_start(&s, param->name, "--quiet", "--max-conns", sequential ? "2" : "1", NULL);
	struct th_client h, waiting;
	th_client_open(&h, &s);
	th_client_send_str(&h, "holder\n");
	th_client_expect_echo(&h, "holder", 6);
	if (sequential) {
		th_client_open(&waiting, &s);
		th_client_send_str(&waiting, "waiting\n");
		usleep(100000);
	}
	pid_t flood = fork();
	cr_assert_geq(flood, 0);
	if (flood == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGPIPE, SIG_IGN);
		static char junk[65536];
		memset(junk, 'x', sizeof(junk));
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int64_t end = el_io_now_ms() + 20000; /* bounded: the test kills it long before */
		while (el_io_now_ms() < end) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
				while (write(fd, junk, sizeof(junk)) > 0 && el_io_now_ms() < end)
					;
			if (fd >= 0)
				close(fd);
		}
		_exit(0);
	}
	usleep(500000);
	th_server_stop(&s, SIGTERM); /* fails the test past its 2 s */
	kill(flood, SIGKILL);
	waitpid(flood, NULL, 0);
	th_client_close(&h);
	if (sequential)
		th_client_close(&waiting);
}

/* SIGTERM in the middle of load: 40 clients pipeline numbered messages
 * (up to 32 unanswered each) while reading their replies; at the signal
 * they stop sending and read to the end. The server's log names every
 * message it finished reading: each has its reply at its client, in
 * order, and no client has a reply the log does not name. */
MODEL_TEST(sigterm_under_load_drops_no_message_read, T_OPTS)
{
	enum { N = 40, IN_FLIGHT = 32 };
	struct th_server s;
	th_server_start(&s, param->name, "--backlog", "256", NULL);
	struct loader *l = calloc(N, sizeof(*l));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < N; i++) {
		struct th_client c;
		th_client_open(&c, &s);
		l[i].fd = dup(c.fd);
		th_client_close(&c); /* the dup keeps the connection */
		el_io_set_nonblock(l[i].fd, true);
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
		cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, l[i].fd, &ev), 0);
	}
	int64_t t_stop = el_io_now_ms() + 500LL * th_slow_factor(), deadline = 0;
	bool stopped = false;
	int ended = 0;
	struct epoll_event evs[64];
	while (ended < N) {
		if (!stopped && el_io_now_ms() >= t_stop) {
			th_server_signal(&s, SIGTERM);
			stopped = true;
			deadline = el_io_now_ms() + 5000LL * th_slow_factor();
		}
		if (stopped && el_io_now_ms() > deadline)
			break;
		int k = epoll_wait(ep, evs, 64, 20);
		for (int j = 0; j < k; j++) {
			int i = (int)evs[j].data.u32;
			struct loader *p = &l[i];
			if (p->ended)
				continue;
			while (!stopped && (evs[j].events & EPOLLOUT)) {
				if (p->out_off == p->out_len) {
					if (p->sent - p->replies >= IN_FLIGHT)
						break;
					p->out_len = (size_t)snprintf(p->out, sizeof(p->out), "c%d m%ld\n", i, p->sent);
					p->out_off = 0;
				}
				ssize_t w = send(p->fd, p->out + p->out_off, p->out_len - p->out_off, MSG_NOSIGNAL);
				if (w <= 0)
					break;
				p->out_off += (size_t)w;
				p->sent += p->out_off == p->out_len;
			}
			for (;;) {
				ssize_t r = recv(p->fd, p->in + p->in_len, sizeof(p->in) - p->in_len, 0);
				if (r > 0) {
					p->in_len += (size_t)r;
					loader_lines(p, i);
					continue;
				}
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					break;
				p->ended = true; /* EOF, or a reset after the stop */
				ended++;
				epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
				break;
			}
		}
	}
	close(ep);
	cr_expect_eq(ended, N, "%s: %d of %d connections not closed after the stop", param->name, N - ended, N);
	th_server_wait(&s, SIGTERM);

	long *logged = calloc(N, sizeof(*logged));
	size_t log_len = 0;
	char *log = th_server_log(&s, &log_len);
	char *log_end = log + log_len;
	long lines = 0, out_of_order = 0;
	for (char *line = log, *next; line && line < log_end; line = next) {
		/* One line at a time, by length: sscanf, and ASan's strchr,
		 * measure the whole string they are given, and the log holds
		 * 200,000 lines. */
		next = memchr(line, '\n', (size_t)(log_end - line));
		if (next)
			*next++ = '\0';
		if (line[0] != '[')
			continue;
		char *open = line;
		for (int k = 0; k < 4 && open; k++)
			open = strchr(open + (k > 0), '[');
		int ci = -1;
		long seq = -1;
		if (!open || sscanf(open, "[c%d m%ld]", &ci, &seq) != 2 || ci < 0 || ci >= N) {
			cr_expect_fail("%s: a log line names no message of ours: %.80s", param->name, line);
			break;
		}
		if (seq != logged[ci] && out_of_order++ == 0)
			cr_expect_fail("%s: client %d: the log names message %ld after %ld others", param->name, ci,
				       seq, logged[ci]);
		logged[ci]++;
		lines++;
	}
	free(log);
	long replies = 0, sent = 0;
	for (int i = 0; i < N; i++) {
		cr_expect_eq(l[i].replies, logged[i], "%s: client %d: the server read %ld of its messages, it got %ld replies",
			     param->name, i, logged[i], l[i].replies);
		cr_expect_eq(l[i].nwrong, 0, "%s: client %d: %ld replies out of turn, the first: %s", param->name,
			     i, l[i].nwrong, l[i].wrong);
		replies += l[i].replies;
		sent += l[i].sent;
		close(l[i].fd);
	}
	cr_log_info("%s: SIGTERM under load: %ld messages sent, %ld read by the server, %ld answered",
		    param->name, sent, lines, replies);
	cr_expect_gt(lines, N, "%s: the load had barely started", param->name);
	free(logged);
	free(l);
}
