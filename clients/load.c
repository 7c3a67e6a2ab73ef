#include "load.h"
#include "intervals.h"
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "io.h"
#include "reply.h"

static const char *const error_names[EL_LOAD_NERRORS] = {
	"refused", "connect", "reset", "timeout", "wrong", "busy",
};

const char *el_load_error_name(int kind)
{
	return kind >= 0 && kind < EL_LOAD_NERRORS ? error_names[kind] : "?";
}

/* How long a connection waits before it connects again after an error. */
#define RECONNECT_US 100000
/* Timeouts and the end of the run are checked this often. */
#define TICK_US 50000
#define READ_SIZE 65536
/* Open loop: a wake-up serves every send due up to this share of the gap
 * after the first (lateness within a tenth of the gap is on time; the
 * other half is the scheduler's), and at most this long after it. */
#define PACE_SHARE 20
#define PACE_MAX_US 50
#define RTT_LOG_BUF 65536

enum conn_state { C_WAIT, C_CONNECTING, C_UP, C_DONE };

struct lconn {
	int fd;
	long idx;            /* among all connections */
	enum conn_state state;
	int64_t at_us;       /* C_WAIT: when to connect; C_CONNECTING: since */
	int64_t phase_us;    /* open loop, fixed: offset of its first message */
	/* Open loop, Poisson: two cursors over the connection's one stream of
	 * gaps, the sender's at message sched, the receiver's at message recvd
	 * (each its own copy of the stream's state), their due times as
	 * offsets from start_us. */
	uint64_t rng_send, rng_recv;
	int64_t t_send, t_recv;
	long heap_pos;       /* Poisson: its place in the worker's heap */
	int64_t last_sent_us; /* open loop: the previous send's time, for gaps */
	int64_t connect_us;  /* when its connect(2) was called */
	long in_session;     /* replies of this connection (sessions) */
	bool first_pending;  /* the session's first reply is still to come */
	uint64_t sched;      /* messages due so far (open loop) or sent */
	uint64_t written;    /* bytes of messages written since connect */
	uint64_t base;       /* messages due before a reconnect: dropped */
	bool was_up;         /* connected before (this is a reconnect) */
	bool probing;        /* its gate message is in flight */
	bool answered;       /* the server has answered it once */
	bool settled;        /* answered or failed once (the gate waits for it) */
	uint64_t recvd;      /* replies received (global sequence) */
	int64_t sent_us;     /* closed loop: when the message in flight went */
	unsigned local_port;
	bool want_out;       /* EPOLLOUT armed */
	size_t part_len;     /* bytes of an unterminated reply kept */
	uint8_t *part;
};

struct worker {
	struct el_load *l;
	struct el_load_shard *shard;
	struct lconn *conns;
	long n;
	int ep;
	size_t cursor;       /* open loop, fixed: the connection due next */
	struct lconn **heap; /* open loop, Poisson: by next due time */
	uint64_t rng;        /* for the sample of gaps */
	bool restart;        /* a session ended: connect again after the events */
	uint8_t *rbuf;
	char *logbuf;
	size_t loglen;
	pthread_t thread;
	bool waiting;        /* behind the gate (el_load_run) */
	/* Open loop past the gate: the worker wakes on its sends' clock, not
	 * on each reply, and times a reply by its arrival (the kernel's
	 * receive timestamp, CLOCK_REALTIME) less rt_off_us. */
	bool paced;
	int64_t rt_off_us;
	long connecting;     /* connections in C_CONNECTING: not paced then */
};

/* The measurement's clock, set when the gate opens; in shared memory so
 * that spawned workers read it. */
struct gate {
	int64_t start_us, window_us, end_us;
};

struct el_load {
	struct el_load_cfg cfg;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint8_t *rep;        /* the message line repeated */
	size_t line_len, rep_len;
	size_t part_max;     /* longest reply line accepted */
	int64_t start_us, window_us, end_us;
	double window_unix, start_late_s;
	int64_t interval_us; /* open loop */
	double mean_gap_us;  /* open loop: 1e6 / rate */
	uint64_t burst;      /* open loop, fixed: messages due together */
	struct el_load_shard *shards;
	size_t nshards;
	bool shared;         /* shards in shared memory (spawn, processes) */
	pid_t *pids;         /* those processes, for a stop to reach them */
	struct worker *workers;
	bool gated;          /* starts behind the gate */
	struct gate *gate;
	int gate_fd;         /* an eventfd, readable once the gate is open */
	long ready;          /* connections answered when the gate opened */
};

/* Counters the progress line reads while the worker writes them. */
static void bump(uint64_t *c, uint64_t by)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
}

static uint64_t peek(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

struct el_load *el_load_create(const struct el_load_cfg *cfg, char *err, size_t errlen)
{
	struct el_load *l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->cfg = *cfg;
	l->gate_fd = -1;
	l->ready = -1;
	char port[16];
	snprintf(port, sizeof(port), "%u", cfg->port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	int rc = getaddrinfo(cfg->host, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", cfg->host, gai_strerror(rc));
		free(l);
		return NULL;
	}
	memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
	l->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);

	l->line_len = cfg->msg_len + 1;
	size_t copies = 65536 / l->line_len + 1;
	l->rep_len = copies * l->line_len;
	l->rep = malloc(l->rep_len);
	/* A reply is the message with at most TIME, ADDR and PORT around it. */
	l->part_max = cfg->raw ? l->line_len : l->line_len + 128;
	l->nshards = cfg->spawn ? (size_t)cfg->conns : cfg->processes > 0 ? (size_t)cfg->processes : (size_t)cfg->threads;
	if (l->nshards > (size_t)cfg->conns)
		l->nshards = (size_t)cfg->conns;
	size_t bytes = l->nshards * sizeof(*l->shards);
	l->shared = cfg->spawn || cfg->processes > 0;
	if (l->shared) {
		l->shards = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (l->shards == MAP_FAILED)
			l->shards = NULL;
	} else {
		l->shards = malloc(bytes);
	}
	l->workers = calloc(l->nshards, sizeof(*l->workers));
	/* Sessions close their connections: no gate to hold them at. */
	l->gated = cfg->count <= 0 && cfg->connect_rate <= 0 && cfg->duration_s > 0 && cfg->session <= 0;
	l->gate = mmap(NULL, sizeof(*l->gate), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (l->gate == MAP_FAILED)
		l->gate = NULL;
	if (l->gated)
		l->gate_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!l->rep || !l->shards || !l->workers || !l->gate || (l->gated && l->gate_fd < 0)) {
		snprintf(err, errlen, "out of memory for %zu workers", l->nshards);
		el_load_destroy(l);
		return NULL;
	}
	for (size_t i = 0; i < copies; i++) {
		memcpy(l->rep + i * l->line_len, cfg->msg, cfg->msg_len);
		l->rep[i * l->line_len + cfg->msg_len] = '\n';
	}
	for (size_t i = 0; i < l->nshards; i++) {
		memset(&l->shards[i], 0, sizeof(l->shards[i]));
		el_hist_init(&l->shards[i].hist);
		el_hist_init(&l->shards[i].late);
		el_hist_init(&l->shards[i].connect);
		el_hist_init(&l->shards[i].first_reply);
	}
	l->interval_us = cfg->rate > 0 ? (int64_t)(1e6 / cfg->rate) : 0;
	l->mean_gap_us = cfg->rate > 0 ? 1e6 / cfg->rate : 0;
	l->burst = cfg->burst > 1 && !cfg->poisson ? (uint64_t)cfg->burst : 1;
	if (cfg->rate > 0 && l->interval_us < 1)
		l->interval_us = 1;
	return l;
}

void el_load_destroy(struct el_load *l)
{
	if (!l)
		return;
	if (l->shared && l->shards)
		munmap(l->shards, l->nshards * sizeof(*l->shards));
	else
		free(l->shards);
	if (l->gate)
		munmap(l->gate, sizeof(*l->gate));
	if (l->gate_fd >= 0)
		close(l->gate_fd);
	free(l->workers);
	free(l->rep);
	free(l);
}

static void log_flush(struct worker *w)
{
	if (w->loglen == 0)
		return;
	/* Whole rows in one write(2): workers append to one file. */
	size_t off = 0;
	while (off < w->loglen) {
		ssize_t n = write(w->l->cfg.rtt_log_fd, w->logbuf + off, w->loglen - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	w->loglen = 0;
}

static void log_rtt(struct worker *w, const struct lconn *c, int64_t send_us, int64_t rtt_us)
{
	if (!w->logbuf)
		return;
	if (w->loglen + 96 > RTT_LOG_BUF)
		log_flush(w);
	w->loglen += (size_t)snprintf(w->logbuf + w->loglen, RTT_LOG_BUF - w->loglen,
				      "%ld,%llu,%lld,%lld\n", c->idx, (unsigned long long)c->recvd,
				      (long long)(send_us - w->l->start_us), (long long)rtt_us);
}

static void conn_close(struct worker *w, struct lconn *c, int64_t now)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->state == C_UP)
		__atomic_store_n(&w->shard->up, w->shard->up - 1, __ATOMIC_RELAXED);
	if (c->state == C_CONNECTING)
		w->connecting--;
	c->part_len = 0;
	c->want_out = false;
	c->probing = false;
	c->state = C_WAIT;
	c->at_us = now + RECONNECT_US;
}

static void settle(struct worker *w, struct lconn *c)
{
	if (c->settled)
		return;
	c->settled = true;
	__atomic_store_n(&w->shard->settled, w->shard->settled + 1, __ATOMIC_RELEASE);
}

static void conn_error(struct worker *w, struct lconn *c, int kind, int64_t now)
{
	bump(&w->shard->errors[kind], 1);
	settle(w, c);
	conn_close(w, c, now);
	/* A timed run reopens a failed connection to keep the load up; a
	 * counted run would then never end against a dead server, so there
	 * the connection ends with its error. */
	if (w->l->cfg.count > 0)
		c->state = C_DONE;
}

static bool counting_done(const struct el_load *l, const struct lconn *c)
{
	return l->cfg.count > 0 && c->recvd >= (uint64_t)l->cfg.count;
}

/* Messages this connection should have written by now. */
static uint64_t due(const struct el_load *l, const struct lconn *c)
{
	uint64_t d = c->sched;
	if (l->cfg.count > 0 && d > (uint64_t)l->cfg.count)
		d = (uint64_t)l->cfg.count;
	return d < c->base ? c->base : d;
}

/* Open loop: when message sched (the next to come due) and message recvd
 * (the next reply's) were due. */
static int64_t send_due(const struct el_load *l, const struct lconn *c)
{
	return l->start_us + (l->cfg.poisson ? c->t_send
					      : c->phase_us + (int64_t)(c->sched / l->burst * l->burst) * l->interval_us);
}

static int64_t recv_due(const struct el_load *l, const struct lconn *c)
{
	return l->start_us + (l->cfg.poisson ? c->t_recv
					      : c->phase_us + (int64_t)(c->recvd / l->burst * l->burst) * l->interval_us);
}

static int64_t poisson_gap(const struct el_load *l, uint64_t *rng)
{
	return (int64_t)llround(el_rng_exp(rng, l->mean_gap_us));
}

/* The receiver's cursor jumps to the sender's: what was due before is
 * dropped (a reconnect, or the gate's end). */
static void sync_recv(struct lconn *c)
{
	c->recvd = c->sched;
	c->rng_recv = c->rng_send;
	c->t_recv = c->t_send;
}

static void conn_write(struct worker *w, struct lconn *c, int64_t now)
{
	const struct el_load *l = w->l;
	uint64_t want = c->probing ? l->line_len : (due(l, c) - c->base) * l->line_len;
	while (c->written < want) {
		size_t off = (size_t)(c->written % l->line_len);
		uint64_t left = want - c->written;
		size_t len = l->rep_len - off < left ? l->rep_len - off : (size_t)left;
		ssize_t n = send(c->fd, l->rep + off, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			conn_error(w, c, EL_LOAD_RESET, now);
			return;
		}
		c->written += (uint64_t)n;
	}
	bool out = c->written < want;
	if (out != c->want_out) {
		struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
		epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = out;
	}
}

/* Closed loop: the next message goes as soon as the reply came. */
static void closed_send(struct worker *w, struct lconn *c, int64_t now)
{
	if (counting_done(w->l, c) || now >= w->l->end_us)
		return;
	c->sched = c->recvd + 1;
	c->sent_us = now;
	conn_write(w, c, now);
}

/* A span from t0 to now counts in the window's figures. */
static bool in_window(const struct el_load *l, int64_t t0, int64_t now)
{
	return t0 >= l->start_us + (int64_t)(l->cfg.warmup_s * 1e6) && now <= l->end_us;
}

static void conn_up(struct worker *w, struct lconn *c, int64_t now)
{
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (w->l->interval_us)
		setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	getsockname(c->fd, (struct sockaddr *)&local, &len);
	c->local_port = ntohs(local.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&local)->sin6_port
							  : ((struct sockaddr_in *)&local)->sin_port);
	if (in_window(w->l, c->connect_us, now))
		el_hist_add_shared(&w->shard->connect, now - c->connect_us);
	c->in_session = 0;
	c->first_pending = true;
	w->connecting--;
	c->state = C_UP;
	__atomic_store_n(&w->shard->up, w->shard->up + 1, __ATOMIC_RELAXED);
	/* Open loop: what came due while the first connect was under way is
	 * sent now and timed from when it was due, as a user's requests
	 * would be; what came due while a failed connection was down is
	 * dropped (the failure is already counted), so a long outage does not
	 * end in a burst. */
	if (w->l->interval_us && c->was_up)
		sync_recv(c);
	c->base = c->recvd;
	c->last_sent_us = 0;
	c->was_up = true;
	c->written = 0;
	c->part_len = 0;
	if (w->waiting) {
		/* Behind the gate: one message, to know the server serves it. */
		c->probing = true;
		c->sent_us = now;
		conn_write(w, c, now);
	} else if (!w->l->interval_us) {
		closed_send(w, c, now);
	} else {
		conn_write(w, c, now);
	}
}

/* A connection's load begins: at once in closed loop; in open loop at its
 * next slot, what came due while it waited for its gate reply dropped. */
static void conn_begin(struct worker *w, struct lconn *c, int64_t now)
{
	if (!w->l->interval_us) {
		closed_send(w, c, now);
		return;
	}
	sync_recv(c);
	c->base = c->recvd;
	c->last_sent_us = 0;
	conn_write(w, c, now);
}

static void conn_start(struct worker *w, struct lconn *c, int64_t now)
{
	const struct el_load *l = w->l;
	c->fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_error(w, c, EL_LOAD_CONNECT, now);
		return;
	}
	c->state = C_CONNECTING;
	w->connecting++;
	c->at_us = now;
	c->connect_us = now;
	c->want_out = true;
	if (l->cfg.nbinds > 0) {
		/* The port is chosen at connect, per destination, so that each
		 * source address has its whole ephemeral range. */
		int one = 1;
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		const struct sockaddr_storage *src = &l->cfg.binds[c->idx % l->cfg.nbinds];
		socklen_t len = src->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		if (bind(c->fd, (const struct sockaddr *)src, len) < 0) {
			conn_error(w, c, EL_LOAD_CONNECT, now);
			return;
		}
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	int rc = connect(c->fd, (const struct sockaddr *)&l->addr, l->addrlen);
	if (rc < 0 && errno != EINPROGRESS) {
		conn_error(w, c, errno == ECONNREFUSED ? EL_LOAD_REFUSED : EL_LOAD_CONNECT, now);
		return;
	}
	epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* One complete reply line (with its LF). */
static void on_reply(struct worker *w, struct lconn *c, const uint8_t *line, size_t len, int64_t now)
{
	struct el_load *l = w->l;
	bool ok;
	if (line[0] == '!' && !l->cfg.raw) {
		unsigned long lim;
		int kind = el_reply_parse_error(line, len, &lim);
		conn_error(w, c, kind == EL_REPLY_BUSY ? EL_LOAD_BUSY : EL_LOAD_WRONG, now);
		return;
	}
	if (l->cfg.raw) {
		ok = len == l->line_len && memcmp(line, l->rep, len) == 0;
	} else {
		struct el_reply r;
		ok = el_reply_parse(line, len, &r) == 0 && r.msg_len == l->cfg.msg_len &&
		     memcmp(r.msg, l->cfg.msg, r.msg_len) == 0 && r.port == c->local_port;
	}
	if (!ok || (!c->probing && c->recvd >= due(l, c))) {
		conn_error(w, c, EL_LOAD_WRONG, now);
		return;
	}
	struct el_load_shard *s = w->shard;
	if (!c->answered) {
		c->answered = true;
		__atomic_store_n(&s->reached, s->reached + 1, __ATOMIC_RELAXED);
		settle(w, c);
	}
	if (c->probing) {
		bump(&s->replies, 1);
		c->probing = false;
		c->written = 0;
		if (!w->waiting)
			conn_begin(w, c, now);
		return;
	}
	int64_t send_us = l->interval_us ? recv_due(l, c) : c->sent_us;
	int64_t rtt = now - send_us;
	bump(&s->replies, 1);
	if (send_us >= l->start_us + (int64_t)(l->cfg.warmup_s * 1e6) && now <= l->end_us) {
		el_hist_add_shared(&s->hist, rtt);
		bump(&s->messages, 1);
		__atomic_store_n(&s->last_reply_us, now, __ATOMIC_RELAXED);
	}
	if (l->cfg.rtt_log_fd >= 0 && (l->cfg.rtt_log_all || c->idx == 0) && send_us >= l->start_us)
		log_rtt(w, c, send_us, rtt);
	c->recvd++;
	if (l->cfg.poisson)
		c->t_recv += poisson_gap(l, &c->rng_recv);
	if (c->first_pending) {
		c->first_pending = false;
		if (in_window(l, c->connect_us, now))
			el_hist_add_shared(&s->first_reply, now - c->connect_us);
	}
	/* A session's last reply: close, and connect again at once. */
	bool session_end = l->cfg.session > 0 && ++c->in_session >= l->cfg.session;
	if (session_end && in_window(l, c->connect_us, now))
		bump(&s->sessions, 1);
	if (counting_done(l, c)) {
		conn_close(w, c, now);
		c->state = C_DONE;
		return;
	}
	if (session_end) {
		conn_close(w, c, now);
		c->at_us = now;
		w->restart = true;
		return;
	}
	if (!l->interval_us)
		closed_send(w, c, now);
}

/* A read in paced mode: at is when the data arrived (the last segment
 * read, so replies that came together share the later time), on the run's
 * clock, and never after now. */
static ssize_t recv_stamped(struct worker *w, int fd, int64_t *at, int64_t now)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = w->rbuf, .iov_len = READ_SIZE};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	ssize_t n = recvmsg(fd, &m, 0);
	for (struct cmsghdr *h = n > 0 ? CMSG_FIRSTHDR(&m) : NULL; h; h = CMSG_NXTHDR(&m, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		struct timespec ts;
		memcpy(&ts, CMSG_DATA(h), sizeof(ts));
		int64_t t = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - w->rt_off_us;
		*at = t < now ? t : now;
	}
	return n;
}

static void conn_read(struct worker *w, struct lconn *c, int64_t now)
{
	const struct el_load *l = w->l;
	for (;;) {
		int64_t at = now;
		ssize_t n = w->paced ? recv_stamped(w, c->fd, &at, now) : recv(c->fd, w->rbuf, READ_SIZE, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* Closed or reset with a reply still due is an error; a
			 * close after the last reply is the server's right. */
			if (n < 0 || c->recvd < due(l, c))
				conn_error(w, c, EL_LOAD_RESET, now);
			else
				conn_close(w, c, now);
			return;
		}
		const uint8_t *p = w->rbuf, *end = w->rbuf + n;
		while (p < end && c->state == C_UP) {
			const uint8_t *lf = memchr(p, '\n', (size_t)(end - p));
			size_t take = lf ? (size_t)(lf + 1 - p) : (size_t)(end - p);
			if (c->part_len + take > l->part_max) {
				conn_error(w, c, EL_LOAD_WRONG, now);
				return;
			}
			if (!lf && c->part_len == 0 && !c->part) {
				c->part = malloc(l->part_max);
				if (!c->part) {
					conn_error(w, c, EL_LOAD_WRONG, now);
					return;
				}
			}
			if (lf && c->part_len == 0) {
				on_reply(w, c, p, take, at);
			} else {
				if (!c->part && !(c->part = malloc(l->part_max))) {
					conn_error(w, c, EL_LOAD_WRONG, now);
					return;
				}
				memcpy(c->part + c->part_len, p, take);
				c->part_len += take;
				if (lf) {
					size_t len = c->part_len;
					c->part_len = 0;
					on_reply(w, c, c->part, len, at);
				}
			}
			p += take;
		}
		if (c->state != C_UP || n < READ_SIZE)
			return;
	}
}

static void on_event(struct worker *w, struct lconn *c, uint32_t events, int64_t now)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			conn_error(w, c, err == ECONNREFUSED ? EL_LOAD_REFUSED : EL_LOAD_CONNECT, now);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = false;
		conn_up(w, c, now);
		return;
	}
	if (c->state != C_UP)
		return;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(w, c, now);
	if (c->state == C_UP && (events & EPOLLOUT))
		conn_write(w, c, now);
}

/* Connects what is due, checks timeouts. Returns the next time it has
 * something to do. */
static int64_t tick(struct worker *w, int64_t now)
{
	const struct el_load *l = w->l;
	int64_t next = now + TICK_US;
	int64_t timeout = (int64_t)l->cfg.timeout_ms * 1000;
	for (long i = 0; i < w->n; i++) {
		struct lconn *c = &w->conns[i];
		switch (c->state) {
		case C_WAIT:
			if (now >= c->at_us)
				conn_start(w, c, now);
			else if (c->at_us < next)
				next = c->at_us;
			break;
		case C_CONNECTING:
			if (now - c->at_us > timeout)
				conn_error(w, c, EL_LOAD_CONNECT, now);
			break;
		case C_UP:
			if (c->probing) {
				if (now - c->sent_us > timeout)
					conn_error(w, c, EL_LOAD_TIMEOUT, now);
			} else if (c->recvd < due(l, c)) {
				int64_t since = l->interval_us ? recv_due(l, c) : c->sent_us;
				if (now - since > timeout)
					conn_error(w, c, EL_LOAD_TIMEOUT, now);
			}
			break;
		case C_DONE:
			break;
		}
	}
	return next;
}

/* Open loop: message sched of c, due at `at`, comes due now: counted in
 * the window's figures (the generator's lateness and the actual gap since
 * the connection's last send, or a send not made while it is down), and
 * written when it is up. */
static void send_now(struct worker *w, struct lconn *c, int64_t at, int64_t now)
{
	const struct el_load *l = w->l;
	c->sched++;
	if (l->cfg.poisson)
		c->t_send += poisson_gap(l, &c->rng_send);
	/* The window's sends: the generator's lateness, or a send that will
	 * not be made (its connection is down: dropped when it is back,
	 * counted there as the error that took it down). */
	bool up = c->state == C_UP && !c->probing;
	if (at >= l->start_us + (int64_t)(l->cfg.warmup_s * 1e6) && at < l->end_us &&
	    (l->cfg.count <= 0 || c->sched <= (uint64_t)l->cfg.count)) {
		struct el_load_shard *s = w->shard;
		bump(&s->scheduled, 1);
		if (up) {
			el_hist_add_shared(&s->late, now - at);
			if (now - at > l->interval_us / 10)
				bump(&s->late_sends, 1);
			/* A uniform sample (a reservoir) of the gaps. */
			if (c->last_sent_us > 0) {
				double gap = (double)(now - c->last_sent_us);
				uint64_t seen = s->gaps_seen++;
				if (s->ngaps < EL_LOAD_GAP_SAMPLE)
					s->gaps[s->ngaps++] = gap;
				else if (el_rng_next(&w->rng) % (seen + 1) < EL_LOAD_GAP_SAMPLE)
					s->gaps[el_rng_next(&w->rng) % EL_LOAD_GAP_SAMPLE] = gap;
			}
			c->last_sent_us = now;
		} else {
			bump(&s->unsent, 1);
		}
	}
	/* A burst is written whole, once its last message is marked. */
	if (up && (c->sched % l->burst == 0 || (l->cfg.count > 0 && c->sched >= (uint64_t)l->cfg.count)))
		conn_write(w, c, now);
}

/* Open loop, fixed: marks the messages that are due, in phase order (each
 * connection's schedule is the same period shifted, so the order in which
 * they come due never changes). Returns when the next one is due. The
 * pass's clock is read once: taking it again at each send (its lateness
 * to the microsecond) let an overloaded loop go on sending what came due
 * during the pass instead of reading replies, and cut the replies of a
 * run at 400,000 msgs/s offered from 254k/s to 192k/s. */
static int64_t schedule_fixed(struct worker *w, int64_t now)
{
	const struct el_load *l = w->l;
	for (uint64_t k = 0; k < (uint64_t)w->n * l->burst; k++) {
		struct lconn *c = &w->conns[w->cursor];
		int64_t at = send_due(l, c);
		if (at > now)
			return at;
		send_now(w, c, at, now);
		if (c->sched % l->burst == 0)
			w->cursor = (w->cursor + 1) % (size_t)w->n;
	}
	return now;
}

/* The Poisson heap: w->heap[0] is the connection due first. */
static void heap_swap(struct worker *w, long i, long j)
{
	struct lconn *t = w->heap[i];
	w->heap[i] = w->heap[j];
	w->heap[j] = t;
	w->heap[i]->heap_pos = i;
	w->heap[j]->heap_pos = j;
}

static void heap_down(struct worker *w, long i)
{
	for (;;) {
		long least = i, a = 2 * i + 1, b = a + 1;
		if (a < w->n && w->heap[a]->t_send < w->heap[least]->t_send)
			least = a;
		if (b < w->n && w->heap[b]->t_send < w->heap[least]->t_send)
			least = b;
		if (least == i)
			return;
		heap_swap(w, i, least);
		i = least;
	}
}

/* Open loop, Poisson: every connection whose next send is due, earliest
 * first. Returns when the next one is due. */
static int64_t schedule_poisson(struct worker *w, int64_t now)
{
	const struct el_load *l = w->l;
	for (;;) {
		struct lconn *c = w->heap[0];
		int64_t at = send_due(l, c);
		if (at > now)
			return at;
		send_now(w, c, at, now);
		heap_down(w, 0);
	}
}

static int64_t schedule(struct worker *w, int64_t now)
{
	return w->l->cfg.poisson ? schedule_poisson(w, now) : schedule_fixed(w, now);
}

static bool all_done(const struct worker *w)
{
	for (long i = 0; i < w->n; i++)
		if (w->conns[i].state != C_DONE)
			return false;
	return true;
}

/* The gate is open: the run's clock is set, and the connections that hold
 * their gate reply begin. Returns when the first open-loop message is due. */
static int64_t gate_passed(struct worker *w, int64_t now)
{
	struct el_load *l = w->l;
	w->waiting = false;
	epoll_ctl(w->ep, EPOLL_CTL_DEL, l->gate_fd, NULL);
	if (l->shared) {
		/* A spawned worker's struct el_load is its own copy. */
		l->start_us = __atomic_load_n(&l->gate->start_us, __ATOMIC_ACQUIRE);
		l->window_us = l->gate->window_us;
		l->end_us = l->gate->end_us;
	}
	for (long i = 0; i < w->n; i++) {
		struct lconn *c = &w->conns[i];
		if (c->state == C_UP && !c->probing)
			conn_begin(w, c, now);
	}
	return l->interval_us ? l->start_us : INT64_MAX;
}

/* Waits for events until `until` (readiness mode: a reply wakes it). */
static int wait_ready(struct worker *w, struct epoll_event *evs, int max, int64_t until, int64_t now, bool *pwait2)
{
	int64_t wait = until > now ? until - now : 0;
	struct timespec ts = {.tv_sec = wait / 1000000, .tv_nsec = (wait % 1000000) * 1000};
	int n = *pwait2 ? epoll_pwait2(w->ep, evs, max, &ts, NULL) : -1;
	if (n < 0 && errno == ENOSYS)
		*pwait2 = false; /* valgrind 3.19 does not know it */
	if (!*pwait2)
		n = epoll_wait(w->ep, evs, max, (int)((wait + 999) / 1000));
	return n;
}

/* Paced mode: sleeps until `until` whatever arrives, then takes every
 * event at once. One wake-up serves a batch of sends and replies; the
 * replies keep their arrival times (recv_stamped). */
static int wait_paced(struct worker *w, struct epoll_event *evs, int max, int64_t until, int64_t now)
{
	if (until > now) {
		struct timespec ts = {.tv_sec = until / 1000000, .tv_nsec = (until % 1000000) * 1000};
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	struct timespec rt, mono;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	w->rt_off_us = ((int64_t)rt.tv_sec - mono.tv_sec) * 1000000 + (rt.tv_nsec - mono.tv_nsec) / 1000;
	return epoll_wait(w->ep, evs, max, 0);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct el_load *l = w->l;
	int64_t next_tick = 0;
	int64_t next_send = l->interval_us && !l->gated ? l->start_us : INT64_MAX;
	int64_t slack = l->interval_us / PACE_SHARE < PACE_MAX_US ? l->interval_us / PACE_SHARE : PACE_MAX_US;
	struct epoll_event evs[256];
	bool pwait2 = true, more = false;
	w->waiting = l->gated;
	if (w->waiting) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
		epoll_ctl(w->ep, EPOLL_CTL_ADD, l->gate_fd, &ev);
	}
	/* The kernel's own slack (50 us by default) would come on top of
	 * the pace's. */
	if (l->interval_us)
		prctl(PR_SET_TIMERSLACK, 1000UL);
	while (!*l->cfg.stop) {
		int64_t now = el_io_now_us();
		bool end = now >= __atomic_load_n(&l->end_us, __ATOMIC_RELAXED);
		/* Paced: what arrived before the end and is still unread
		 * counts, as it would have if read at once. */
		if (end && !w->paced)
			break;
		if (!end && now >= next_tick) {
			next_tick = tick(w, now);
			if (l->cfg.count > 0 && all_done(w))
				break;
		}
		if (!end && l->interval_us && now >= next_send)
			next_send = schedule(w, now);
		/* A connect's completion is not timed by the kernel: while one
		 * is under way, the loop wakes on readiness (the messages due
		 * meanwhile go when it is up, timed from when they were due). */
		w->paced = l->interval_us && !w->waiting && w->connecting == 0;
		int64_t until = next_tick < next_send ? next_tick : next_send;
		/* Behind its schedule (a pass that met only due sends), the
		 * loop does not sleep: it reads, then sends again. */
		if (w->paced && next_send < next_tick && next_send > now)
			until = next_send + slack < next_tick ? next_send + slack : next_tick;
		if (until > l->end_us)
			until = l->end_us;
		int n = w->paced ? wait_paced(w, evs, 256, more || end ? now : until, now)
				 : wait_ready(w, evs, 256, until, now, &pwait2);
		more = n == 256;
		now = el_io_now_us();
		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr)
				next_send = gate_passed(w, now);
			else
				on_event(w, evs[i].data.ptr, evs[i].events, now);
		}
		/* Not inside the loop above: a stale event of the closed fd
		 * could read as the new connect's completion. */
		if (w->restart) {
			w->restart = false;
			next_tick = 0;
		}
		if (end && !more)
			break;
	}
	/* Open loop: what came due and is still unwritten (the server did
	 * not read it) was never sent. */
	for (long i = 0; l->interval_us && i < w->n; i++) {
		const struct lconn *c = &w->conns[i];
		uint64_t d = due(l, c), written = c->written / l->line_len;
		if (c->state == C_UP && !c->probing && d - c->base > written)
			bump(&w->shard->unsent, d - c->base - written);
	}
	log_flush(w);
	__atomic_store_n(&w->shard->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Sets up worker i over connections [first, first + n). */
static int worker_init(struct el_load *l, size_t i, long first, long n)
{
	struct worker *w = &l->workers[i];
	w->l = l;
	w->shard = &l->shards[i];
	w->n = n;
	w->conns = calloc((size_t)n, sizeof(*w->conns));
	w->rbuf = malloc(READ_SIZE);
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	bool logs = l->cfg.rtt_log_fd >= 0 && (l->cfg.rtt_log_all || first == 0);
	if (logs)
		w->logbuf = malloc(RTT_LOG_BUF);
	if (!w->conns || !w->rbuf || w->ep < 0 || (logs && !w->logbuf))
		return -ENOMEM;
	for (long k = 0; k < n; k++) {
		struct lconn *c = &w->conns[k];
		c->fd = -1;
		c->idx = first + k;
		c->state = C_WAIT;
		/* Connections open at the connect rate, in index order. */
		c->at_us = l->start_us +
			   (l->cfg.connect_rate > 0 ? (int64_t)((double)c->idx * 1e6 / l->cfg.connect_rate) : 0);
		/* Open loop: the connections of a worker spread over one period
		 * (a burst's); Poisson: each its own stream, its first send one gap in. */
		c->phase_us = l->interval_us * (int64_t)l->burst * k / n;
		if (l->cfg.poisson) {
			c->rng_send = l->cfg.seed ^ ((uint64_t)c->idx * 0xd1342543de82ef95ull);
			c->t_send = poisson_gap(l, &c->rng_send);
			c->rng_recv = c->rng_send;
			c->t_recv = c->t_send;
		}
	}
	w->rng = l->cfg.seed + i;
	if (l->cfg.poisson && n > 0) {
		w->heap = malloc((size_t)n * sizeof(*w->heap));
		if (!w->heap)
			return -ENOMEM;
		for (long k = 0; k < n; k++) {
			w->heap[k] = &w->conns[k];
			w->conns[k].heap_pos = k;
		}
		for (long k = n / 2 - 1; k >= 0; k--)
			heap_down(w, k);
	}
	return 0;
}

static void worker_finish(struct worker *w)
{
	for (long k = 0; w->conns && k < w->n; k++) {
		if (w->conns[k].fd >= 0)
			close(w->conns[k].fd);
		free(w->conns[k].part);
	}
	free(w->conns);
	free(w->heap);
	free(w->rbuf);
	free(w->logbuf);
	if (w->ep >= 0)
		close(w->ep);
	w->conns = NULL;
	w->rbuf = NULL;
	w->logbuf = NULL;
	w->ep = -1;
}

static void wait_workers(struct el_load *l, void (*progress)(struct el_load *, double, void *), void *arg)
{
	bool passed_on = false;
	for (;;) {
		/* A stop that reached this process alone (kill -INT PID, not a
		 * terminal's Ctrl-C to the group) reaches the workers' processes
		 * too: each ends its run and publishes what it measured. */
		if (l->pids && *l->cfg.stop && !passed_on) {
			for (size_t i = 0; i < l->nshards; i++)
				if (l->pids[i] > 0)
					kill(l->pids[i], SIGINT);
			passed_on = true;
		}
		bool done = true;
		for (size_t i = 0; i < l->nshards; i++)
			done &= __atomic_load_n(&l->shards[i].done, __ATOMIC_ACQUIRE) != 0;
		if (done)
			return;
		int64_t now = el_io_now_us();
		if (progress)
			progress(l, (double)(now - l->start_us) / 1e6, arg);
		/* Up to a second, less when the end is near. */
		int64_t wait = 1000000 - (now - l->start_us) % 1000000;
		if (l->end_us - now > 0 && l->end_us - now < wait)
			wait = l->end_us - now + 1000;
		for (int64_t t = 0; t < wait; t += 20000) {
			struct timespec ts = {0, 20000000};
			nanosleep(&ts, NULL);
			bool all = true;
			for (size_t i = 0; i < l->nshards && all; i++)
				all = __atomic_load_n(&l->shards[i].done, __ATOMIC_ACQUIRE) != 0;
			if (all)
				break;
		}
	}
}

static double unix_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sets the run's clock from start: the warm-up, then the window. */
static void set_clock(struct el_load *l, int64_t start)
{
	l->start_us = start;
	l->window_us = start + (int64_t)(l->cfg.warmup_s * 1e6);
	l->end_us = l->cfg.duration_s > 0 ? l->window_us + (int64_t)(l->cfg.duration_s * 1e6) : INT64_MAX;
	l->window_unix = unix_now() + (double)(l->window_us - el_io_now_us()) / 1e6;
}

/* The start of the run's clock: now, or --start-at's wall-clock time,
 * waited for (a stop ends the wait); a start already past is taken now
 * and how late it was is kept. */
static int64_t clock_start(struct el_load *l)
{
	double at = l->cfg.start_at_unix;
	if (at <= 0)
		return el_io_now_us();
	for (;;) {
		double left = at - unix_now();
		if (left <= 0 || *l->cfg.stop)
			break;
		/* The last millisecond spun, so that every instance starts
		 * within well under one. */
		if (left > 0.002) {
			double nap = left - 0.001 < 0.05 ? left - 0.001 : 0.05;
			struct timespec ts = {0, (long)(nap * 1e9)};
			nanosleep(&ts, NULL);
		}
	}
	double late = unix_now() - at;
	l->start_late_s = late > 0 ? late : 0;
	return el_io_now_us();
}

static long reached(struct el_load *l, bool settled)
{
	long n = 0;
	for (size_t i = 0; i < l->nshards; i++)
		n += settled ? __atomic_load_n(&l->shards[i].settled, __ATOMIC_ACQUIRE)
			     : __atomic_load_n(&l->shards[i].reached, __ATOMIC_RELAXED);
	return n;
}

/* Holds the run until every connection has been answered once (or the
 * gate's time is up, or a stop), then starts its clock and opens the gate
 * (el_load_run's comment). */
static void open_gate(struct el_load *l, void (*progress)(struct el_load *, double, void *), void *arg)
{
	int64_t t0 = l->start_us, limit = 2 * (int64_t)l->cfg.timeout_ms * 1000;
	if (limit < 10000000)
		limit = 10000000;
	int64_t last = t0;
	for (;;) {
		bool all_done = true;
		for (size_t i = 0; i < l->nshards && all_done; i++)
			all_done = __atomic_load_n(&l->shards[i].done, __ATOMIC_ACQUIRE) != 0;
		int64_t now = el_io_now_us();
		if (reached(l, true) >= l->cfg.conns || now - t0 >= limit || *l->cfg.stop || all_done)
			break;
		if (progress && now - last >= 1000000) {
			progress(l, (double)(now - t0) / 1e6, arg);
			last = now;
		}
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	l->ready = reached(l, false);
	set_clock(l, clock_start(l));
	if (*l->cfg.stop)
		l->end_us = l->start_us;
	l->gate->window_us = l->window_us;
	l->gate->end_us = l->end_us;
	__atomic_store_n(&l->gate->start_us, l->start_us, __ATOMIC_RELEASE);
	uint64_t one = 1;
	if (write(l->gate_fd, &one, sizeof(one)) != sizeof(one))
		*l->cfg.stop = 1; /* cannot happen on a fresh eventfd; end the run rather than hang */
}

/* Event loop i runs on the i-th CPU of those the process may use (in
 * turn when there are more loops than CPUs): the loops neither share a
 * CPU nor move, so a run does not depend on where the scheduler put them. */
static void pin_attr(pthread_attr_t *attr, const int *cpus, int ncpus, size_t i)
{
	if (ncpus <= 0)
		return;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpus[i % (size_t)ncpus], &one);
	pthread_attr_setaffinity_np(attr, sizeof(one), &one);
}

int el_load_run(struct el_load *l, void (*progress)(struct el_load *l, double elapsed_s, void *arg),
		void *arg, char *err, size_t errlen)
{
	const struct el_load_cfg *cfg = &l->cfg;
	/* A gated run connects first and starts its clock when the gate
	 * opens; any other starts everything at the start time. */
	set_clock(l, l->gated ? el_io_now_us() : clock_start(l));
	if (l->gated) {
		/* Until the gate opens, the end is not known. */
		l->window_us = l->end_us = INT64_MAX;
	}
	int rc = 0;
	size_t started = 0;
	long per = cfg->conns / (long)l->nshards, extra = cfg->conns % (long)l->nshards, first = 0;
	int cpus[CPU_SETSIZE];
	int ncpus = cfg->pin ? el_cli_allowed_cpus(cpus, CPU_SETSIZE) : 0;
	if (l->shared) {
		pid_t *pids = calloc(l->nshards, sizeof(*pids));
		if (!pids)
			return -ENOMEM;
		for (size_t i = 0; i < l->nshards; i++) {
			long n = per + ((long)i < extra);
			pid_t pid = fork();
			if (pid < 0) {
				rc = -errno;
				snprintf(err, errlen, "fork (process %zu of %zu): %s", i + 1, l->nshards,
					 strerror(errno));
				break;
			}
			if (pid == 0) {
				free(pids); /* the parent's */
				if (ncpus > 0) {
					cpu_set_t one;
					CPU_ZERO(&one);
					CPU_SET(cpus[i % (size_t)ncpus], &one);
					sched_setaffinity(0, sizeof(one), &one);
				}
				int r = worker_init(l, i, first, n);
				if (r == 0)
					worker_run(&l->workers[i]);
				else
					__atomic_store_n(&l->shards[i].done, 1, __ATOMIC_RELEASE);
				_exit(r == 0 ? 0 : 1);
			}
			pids[i] = pid;
			first += n;
			started++;
		}
		l->pids = pids;
		if (rc < 0) {
			for (size_t i = 0; i < started; i++)
				kill(pids[i], SIGTERM);
			for (size_t i = started; i < l->nshards; i++)
				l->shards[i].done = 1;
		}
		if (l->gated)
			open_gate(l, progress, arg);
		wait_workers(l, progress, arg);
		for (size_t i = 0; i < started; i++)
			waitpid(pids[i], NULL, 0);
		l->pids = NULL;
		free(pids);
		return rc;
	}
	for (size_t i = 0; i < l->nshards; i++) {
		long n = per + ((long)i < extra);
		l->workers[i].ep = -1;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		if (cfg->pin)
			pin_attr(&attr, cpus, ncpus, i);
		if (worker_init(l, i, first, n) < 0 ||
		    (rc = -pthread_create(&l->workers[i].thread, &attr, worker_run, &l->workers[i])) < 0) {
			pthread_attr_destroy(&attr);
			rc = rc < 0 ? rc : -ENOMEM;
			snprintf(err, errlen, "starting worker %zu: %s", i + 1, strerror(-rc));
			worker_finish(&l->workers[i]);
			break;
		}
		pthread_attr_destroy(&attr);
		first += n;
		started++;
	}
	if (rc < 0) {
		*l->cfg.stop = 1;
		for (size_t i = started; i < l->nshards; i++)
			l->shards[i].done = 1;
	}
	if (l->gated)
		open_gate(l, progress, arg);
	wait_workers(l, progress, arg);
	for (size_t i = 0; i < started; i++) {
		pthread_join(l->workers[i].thread, NULL);
		worker_finish(&l->workers[i]);
	}
	return rc;
}

int el_load_step(const struct el_load_cfg *cfg, double rate,
		 void (*progress)(struct el_load *l, double elapsed_s, void *arg), void *arg,
		 struct el_load_result *r, char *err, size_t errlen)
{
	struct el_load_cfg c = *cfg;
	c.rate = rate;
	struct el_load *l = el_load_create(&c, err, errlen);
	if (!l)
		return -1;
	int rc = el_load_run(l, progress, arg, err, errlen);
	if (rc == 0)
		el_load_snapshot(l, r, false);
	el_load_destroy(l);
	return rc < 0 ? -1 : 0;
}

void el_load_end_now(struct el_load *l)
{
	int64_t now = el_io_now_us();
	if (now < l->end_us)
		__atomic_store_n(&l->end_us, now, __ATOMIC_RELAXED);
}

void el_load_snapshot(struct el_load *l, struct el_load_result *r, bool live)
{
	memset(r, 0, sizeof(*r));
	el_hist_init(&r->hist);
	el_hist_init(&r->late);
	el_hist_init(&r->connect);
	el_hist_init(&r->first_reply);
	r->ready = l->gated ? l->ready : -1;
	int64_t last = 0;
	for (size_t i = 0; i < l->nshards; i++) {
		struct el_load_shard *s = &l->shards[i];
		if (!live) {
			el_hist_merge(&r->hist, &s->hist);
		} else {
			for (size_t b = 0; b < EL_HIST_BUCKETS; b++)
				r->hist.counts[b] += peek(&s->hist.counts[b]);
			r->hist.total += peek(&s->hist.total);
		}
		if (!live)
			el_hist_merge(&r->late, &s->late);
		r->late_sends += peek(&s->late_sends);
		r->scheduled += peek(&s->scheduled);
		r->sessions += peek(&s->sessions);
		if (!live) {
			el_hist_merge(&r->connect, &s->connect);
			el_hist_merge(&r->first_reply, &s->first_reply);
		}
		r->unsent += peek(&s->unsent);
		r->messages += peek(&s->messages);
		r->replies += peek(&s->replies);
		for (int k = 0; k < EL_LOAD_NERRORS; k++) {
			r->errors[k] += peek(&s->errors[k]);
			r->errors_total += peek(&s->errors[k]);
		}
		r->up += __atomic_load_n(&s->up, __ATOMIC_RELAXED);
		r->reached += __atomic_load_n(&s->reached, __ATOMIC_RELAXED);
		int64_t t = __atomic_load_n(&s->last_reply_us, __ATOMIC_RELAXED);
		if (t > last)
			last = t;
	}
	int64_t now = el_io_now_us();
	int64_t end = l->end_us < now ? l->end_us : now;
	/* Counted runs end with their last reply. */
	if (l->cfg.duration_s <= 0 && !live && last > 0)
		end = last;
	r->window_s = end > l->window_us ? (double)(end - l->window_us) / 1e6 : 0.0;
	r->window_start_unix = l->window_unix;
	r->start_late_s = l->start_late_s;
	if (live)
		return;
	el_load_validate(&l->cfg, r);
	/* Poisson arrivals: do the gaps actually sent fit the exponential
	 * they were drawn from? */
	size_t n = 0;
	for (size_t i = 0; i < l->nshards; i++)
		n += l->shards[i].ngaps;
	double *gaps = l->cfg.poisson && n ? malloc(n * sizeof(*gaps)) : NULL;
	if (gaps) {
		size_t k = 0;
		for (size_t i = 0; i < l->nshards; i++)
			for (uint32_t j = 0; j < l->shards[i].ngaps; j++)
				gaps[k++] = l->shards[i].gaps[j];
		r->fit_n = n;
		/* The generator's clock resolution: the median lateness of
		 * its sends (us), the shortest gap it can tell from 0. */
		r->fit_resolution_us = r->late.total ? fmax(el_hist_percentile(&r->late, 50), 1) : 1;
		r->fit_a2 = el_fit_ad_exponential(gaps, n, l->mean_gap_us, r->fit_resolution_us, &r->fit_p);
		free(gaps);
	}
}
