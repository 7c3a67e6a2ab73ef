/* The network fuzzer's client loop: connections in parallel over one
 * epoll, each sending its stream and checking what comes back. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "io.h"
#include "supervise.h"
#include "fuzz.h"

/* --- connections ------------------------------------------------------- */

void nf_conn_close(struct fuzz *f, struct conn *c, bool reset)
{
	if (c->fd >= 0) {
		if (reset) {
			struct linger lg = {.l_onoff = 1, .l_linger = 0};
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(c->fd);
	}
	c->fd = -1;
	c->state = C_FREE;
	f->live--;
	f->r->connections++;
}

static void conn_watch(struct fuzz *f, struct conn *c, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0), .data.ptr = c};
	if (out != c->want_out)
		epoll_ctl(f->ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = out;
}

static int conn_start(struct fuzz *f, struct conn *c, long index)
{
	c->index = index;
	c->rng = nf_conn_seed(f->o->seed, index);
	c->sent = 0;
	c->line.len = 0;
	c->want_out = true;
	if (nf_gen_stream(c, f->o->max_line) < 0)
		return -ENOMEM;
	c->fd = socket(f->server.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = C_CONNECTING;
	c->last_progress_ms = el_io_now_ms();
	f->live++;
	if (connect(c->fd, (struct sockaddr *)&f->server, f->server_len) < 0 && errno != EINPROGRESS) {
		nf_fail(f, c, "connect: %s", strerror(errno));
		return 0;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
	epoll_ctl(f->ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

/* The stream is sent up to stop_at: end the way the connection was drawn. */
static void conn_end_sending(struct fuzz *f, struct conn *c)
{
	switch (c->ending) {
	case END_FIN:
	case END_FIN_PARTIAL:
		shutdown(c->fd, SHUT_WR);
		c->state = C_DRAINING;
		conn_watch(f, c, false);
		if (c->ending == END_FIN)
			f->r->fin++;
		else
			f->r->fin_partial++;
		break;
	case END_RESET:
		f->r->reset++;
		nf_conn_close(f, c, true);
		break;
	case END_UNREAD:
		f->r->unread++;
		nf_conn_close(f, c, false);
		break;
	}
}

static void conn_send(struct fuzz *f, struct conn *c, int64_t now)
{
	while (c->state == C_SENDING && c->next_send_ms <= now) {
		if (c->sent == c->stop_at) {
			conn_end_sending(f, c);
			return;
		}
		size_t k = nf_below(&c->rng, 10), n;
		n = k < 4 ? 1 + nf_below(&c->rng, 16) : k < 8 ? 1 + nf_below(&c->rng, 1460) : 1 + nf_below(&c->rng, 65536);
		if (n > c->stop_at - c->sent)
			n = c->stop_at - c->sent;
		ssize_t w = send(c->fd, c->stream.p + c->sent, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			conn_watch(f, c, true);
			return;
		}
		if (w < 0) {
			nf_fail(f, c, "send at byte %zu: %s", c->sent, strerror(errno));
			return;
		}
		c->sent += (size_t)w;
		f->r->bytes_sent += (uint64_t)w;
		c->last_progress_ms = now;
		conn_watch(f, c, false);
		/* Now and then a pause, so the server sees the pieces apart. */
		if (nf_below(&c->rng, 4) == 0)
			c->next_send_ms = now + (int64_t)nf_below(&c->rng, 3);
	}
}

static void conn_connected(struct fuzz *f, struct conn *c)
{
	int err = 0;
	socklen_t el = sizeof(err);
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		nf_fail(f, c, "connect: %s", strerror(err));
		return;
	}
	struct sockaddr_storage me;
	socklen_t ml = sizeof(me);
	getsockname(c->fd, (struct sockaddr *)&me, &ml);
	if (me.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&me;
		inet_ntop(AF_INET6, &s6->sin6_addr, c->addr, sizeof(c->addr));
		c->port = ntohs(s6->sin6_port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&me;
		inet_ntop(AF_INET, &s4->sin_addr, c->addr, sizeof(c->addr));
		c->port = ntohs(s4->sin_port);
	}
	c->state = C_SENDING;
	c->next_send_ms = 0;
	c->last_progress_ms = el_io_now_ms();
	f->r->messages += c->messages;
	conn_watch(f, c, false);
}

static void conn_read(struct fuzz *f, struct conn *c)
{
	uint8_t buf[65536];
	for (int reads = 0; reads < 16 && c->state != C_FREE; reads++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			c->last_progress_ms = el_io_now_ms();
			if (!nf_received(f, c, buf, (size_t)n))
				return;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			nf_fail(f, c, "recv after %zu of %zu replies: %s (the server reset a client that did "
				   "nothing wrong)",
			     c->next, c->nitems, strerror(errno));
			return;
		}
		/* EOF. The server closes only after our FIN. */
		if (c->state != C_DRAINING) {
			nf_fail(f, c, "the server closed after %zu of %zu bytes sent, before the client's FIN",
			     c->sent, c->stream.len);
			return;
		}
		if (c->line.len > 0) {
			char got[300];
			nf_show(got, sizeof(got), c->line.p, c->line.len, 120);
			nf_fail(f, c, "an unterminated reply before the FIN: \"%s\"", got);
			return;
		}
		if (c->next != c->nitems) {
			nf_fail(f, c, "FIN after %zu of %zu replies", c->next, c->nitems);
			return;
		}
		nf_conn_close(f, c, false);
		return;
	}
}

static void conn_event(struct fuzz *f, struct conn *c, uint32_t events)
{
	if (c->state == C_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		conn_connected(f, c);
		if (c->state != C_SENDING)
			return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		conn_read(f, c);
	if (c->state == C_SENDING && (events & EPOLLOUT))
		conn_send(f, c, el_io_now_ms());
}


/* --- the run ----------------------------------------------------------- */

void el_nf_defaults(struct el_nf_opts *o)
{
	*o = (struct el_nf_opts){
		.host = "127.0.0.1",
		.port = 1234,
		.seed = 1,
		.duration_s = 10,
		.only = -1,
		.parallel = 64,
		.max_line = 8192,
		.stall_ms = 10000,
	};
}

static int resolve(struct fuzz *f, const char *host, unsigned port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
	char p[16];
	snprintf(p, sizeof(p), "%u", port);
	int rc = getaddrinfo(host, p, &hints, &ai);
	if (rc != 0) {
		snprintf(f->r->first, sizeof(f->r->first), "%s: %s", host, gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(&f->server, ai->ai_addr, ai->ai_addrlen);
	f->server_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int el_nf_run(const struct el_nf_opts *o, struct el_nf_result *r)
{
	memset(r, 0, sizeof(*r));
	struct fuzz f = {.o = o, .r = r};
	int parallel = o->only >= 0 ? 1 : (o->parallel > 0 ? o->parallel : 1);
	int rc = resolve(&f, o->host, o->port);
	if (rc < 0)
		return rc;
	f.ep = epoll_create1(EPOLL_CLOEXEC);
	f.conns = calloc((size_t)parallel, sizeof(*f.conns));
	if (f.ep < 0 || !f.conns) {
		snprintf(r->first, sizeof(r->first), "epoll or memory: %s", strerror(errno));
		free(f.conns);
		if (f.ep >= 0)
			close(f.ep);
		return -ENOMEM;
	}
	for (int i = 0; i < parallel; i++)
		f.conns[i].fd = -1;

	int64_t t0 = el_io_now_ms(), last_progress = t0;
	int64_t stop_ms = o->duration_s > 0 ? t0 + (int64_t)(o->duration_s * 1000) : INT64_MAX;
	long limit = o->only >= 0 ? 1 : o->connections;
	rc = 0;
	for (;;) {
		int64_t now = el_io_now_ms();
		if (o->stop && *o->stop)
			break;
		bool more = now < stop_ms && (limit <= 0 || f.started < limit);
		for (int i = 0; more && rc == 0 && i < parallel; i++) {
			if (f.conns[i].state != C_FREE)
				continue;
			long index = o->only >= 0 ? o->only : f.started;
			f.started++;
			rc = conn_start(&f, &f.conns[i], index);
			if (rc < 0)
				snprintf(r->first, sizeof(r->first), "connection %ld: %s", index, strerror(-rc));
			more = limit <= 0 || f.started < limit;
		}
		if (rc < 0 || f.live == 0)
			break;

		/* Sends that are due, and connections that stopped moving. */
		int64_t wake = now + 100;
		for (int i = 0; i < parallel; i++) {
			struct conn *c = &f.conns[i];
			if (c->state == C_FREE)
				continue;
			if (now - c->last_progress_ms > o->stall_ms) {
				nf_fail(&f, c, "no progress for %d ms: %zu of %zu bytes sent, %zu of %zu replies",
				     o->stall_ms, c->sent, c->stop_at, c->next, c->nitems);
				continue;
			}
			if (c->state == C_SENDING && !c->want_out) {
				conn_send(&f, c, now);
				if (c->state == C_SENDING && !c->want_out && c->next_send_ms < wake)
					wake = c->next_send_ms;
			}
		}
		struct epoll_event evs[64];
		int timeout = wake > now ? (int)(wake - now) : 0;
		int n = epoll_wait(f.ep, evs, 64, timeout);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->state != C_FREE)
				conn_event(&f, c, evs[i].events);
		}
		if (o->progress && now - last_progress >= 1000) {
			last_progress = now;
			fprintf(o->progress,
				"netfuzz: %.0f s: %ld connections, %ld replies checked, %ld failures\n",
				(double)(now - t0) / 1000, r->connections, r->replies, r->failures);
			fflush(o->progress);
		}
	}
	for (int i = 0; i < parallel; i++) {
		if (f.conns[i].state != C_FREE)
			nf_conn_close(&f, &f.conns[i], true);
		free(f.conns[i].stream.p);
		free(f.conns[i].line.p);
		free(f.conns[i].items);
	}
	free(f.conns);
	close(f.ep);
	return rc;
}

