/* A connection of the load (load_engine.h): connect, write, read, the
 * replies checked and timed, errors, reconnects and timeouts. */
#include "load_engine.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "io.h"
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>

#include "reply.h"

void el_load_log_flush(struct worker *w)
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
		el_load_log_flush(w);
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

void el_load_conn_write(struct worker *w, struct lconn *c, int64_t now)
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
	el_load_conn_write(w, c, now);
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
		el_load_conn_write(w, c, now);
	} else if (!w->l->interval_us) {
		closed_send(w, c, now);
	} else {
		el_load_conn_write(w, c, now);
	}
}

/* A connection's load begins: at once in closed loop; in open loop at its
 * next slot, what came due while it waited for its gate reply dropped. */
void el_load_conn_begin(struct worker *w, struct lconn *c, int64_t now)
{
	if (!w->l->interval_us) {
		closed_send(w, c, now);
		return;
	}
	sync_recv(c);
	c->base = c->recvd;
	c->last_sent_us = 0;
	el_load_conn_write(w, c, now);
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

/* One complete reply line (with its LF), arrived at `now` (the kernel's
 * stamp, paced) and read at read_us. */
static void on_reply(struct worker *w, struct lconn *c, const uint8_t *line, size_t len, int64_t now,
		     int64_t read_us)
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
			el_load_conn_begin(w, c, now);
		return;
	}
	int64_t send_us = l->interval_us ? recv_sent(l, c) : c->sent_us;
	/* A kernel stamp before its message went is wrong: the reply is
	 * timed at its read, which is never before it. (A fresh clone's run
	 * on a new virtual machine once had replies stamped 270-480 us
	 * before their messages went, in two runs at once, for 200 ms; the
	 * stamps are taken on the server's CPU, our times on ours.) */
	if (now < send_us)
		now = read_us;
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
				on_reply(w, c, p, take, at, now);
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
					on_reply(w, c, c->part, len, at, now);
				}
			}
			p += take;
		}
		if (c->state != C_UP || n < READ_SIZE)
			return;
	}
}

void el_load_on_event(struct worker *w, struct lconn *c, uint32_t events, int64_t now)
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
		el_load_conn_write(w, c, now);
}

/* Connects what is due, checks timeouts. Returns the next time it has
 * something to do. */
int64_t el_load_tick(struct worker *w, int64_t now)
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
