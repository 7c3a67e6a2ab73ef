/* Accepting: the connections counted against --max-conns, the blocking
 * accept loop, the non-blocking accept of all that wait, the pause on
 * EMFILE, and the busy reply past --max-conns. */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"
#include "reply.h"

/* How long accepting pauses after resource exhaustion, in milliseconds. */
#define ACCEPT_PAUSE_MS 100

/* With --processes: one more of every process's connections, unless
 * --max-conns are live already. */
static bool all_acquire(struct el_srv *srv)
{
	long v = atomic_load(srv->all_live);
	do
		if (srv->cfg.max_conns > 0 && v >= srv->cfg.max_conns)
			return false;
	while (!atomic_compare_exchange_weak(srv->all_live, &v, v + 1));
	return true;
}

bool el_srv_conn_acquire(struct el_srv *srv)
{
	pthread_mutex_lock(&srv->lock);
	bool ok = srv->all_live ? all_acquire(srv) : srv->cfg.max_conns == 0 || srv->live < srv->cfg.max_conns;
	if (ok)
		srv->live++;
	pthread_mutex_unlock(&srv->lock);
	return ok;
}

void el_srv_conn_release(struct el_srv *srv)
{
	pthread_mutex_lock(&srv->lock);
	if (srv->all_live)
		atomic_fetch_sub(srv->all_live, 1);
	if (--srv->live == 0)
		pthread_cond_broadcast(&srv->drained);
	pthread_mutex_unlock(&srv->lock);
}

long el_srv_wait_drained(struct el_srv *srv, int64_t deadline_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	int64_t left = deadline_ms - el_io_now_ms();
	if (left < 0)
		left = 0;
	until.tv_sec += left / 1000;
	until.tv_nsec += (left % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&srv->lock);
	while (srv->live > 0 && pthread_cond_timedwait(&srv->drained, &srv->lock, &until) == 0)
		;
	long live = srv->live;
	pthread_mutex_unlock(&srv->lock);
	return live;
}

int el_srv_accept_wait(struct el_srv *srv, struct sockaddr_storage *peer, int extra_fd,
		       void (*on_extra)(void *arg), void *arg)
{
	struct pollfd pfds[3] = {
		{.fd = srv->listen_fd, .events = POLLIN},
		{.fd = srv->stop_fd, .events = POLLIN},
		{.fd = extra_fd, .events = POLLIN},
	};
	int rc = el_io_poll(pfds, extra_fd >= 0 ? 3 : 2, -1, false);
	if (rc > 0 && extra_fd >= 0 && (pfds[2].revents & POLLIN))
		on_extra(arg);
	if (rc <= 0 || !(pfds[0].revents & POLLIN) || el_srv_should_stop(srv))
		return -EAGAIN;
	int fd = el_srv_accept(srv, peer, NULL);
	if (fd == -EMFILE) {
		el_srv_pause(srv, ACCEPT_PAUSE_MS);
		return -EAGAIN;
	}
	return fd;
}

int el_srv_accept_all(struct el_srv *srv, el_srv_taker take, void *arg, int64_t *resume_ms)
{
	for (;;) {
		struct sockaddr_storage peer;
		int fd = el_srv_accept(srv, &peer, resume_ms);
		if (fd < 0)
			return fd == -EMFILE ? -EMFILE : 0;
		take(arg, fd, &peer);
	}
}

int el_srv_accept_loop(struct el_srv *srv, el_srv_handler handle, void *arg, int extra_fd,
		       void (*on_extra)(void *arg))
{
	while (!el_srv_should_stop(srv)) {
		struct sockaddr_storage peer;
		int fd = el_srv_accept_wait(srv, &peer, extra_fd, on_extra, arg);
		if (fd == -EAGAIN)
			continue;
		if (fd < 0) {
			fprintf(stderr, "echolab-server: accept: %s\n", strerror(-fd));
			return 1;
		}
		if (!el_srv_conn_acquire(srv)) {
			el_srv_reject_busy(srv, fd, (struct sockaddr *)&peer);
			continue;
		}
		int rc = handle(arg, fd, &peer);
		if (rc < 0) {
			el_srv_conn_release(srv);
			el_srv_logf(srv, "cannot serve a connection: %s", strerror(-rc));
			el_srv_reject_busy(srv, fd, (struct sockaddr *)&peer);
		}
	}
	return 0;
}

int el_srv_accept(struct el_srv *srv, struct sockaddr_storage *peer, int64_t *resume_ms)
{
	socklen_t len = sizeof(*peer);
	int fd = accept4(srv->listen_fd, (struct sockaddr *)peer, &len, SOCK_CLOEXEC);
	return fd >= 0 ? fd : el_srv_accept_error(srv, errno, resume_ms);
}

int el_srv_accept_error(struct el_srv *srv, int err, int64_t *resume_ms)
{
	switch (err) {
	case EINTR:
	case EAGAIN:
	case ECONNABORTED:
	/* Linux hands a connection's pending network error to accept(2);
	 * accept(2) says to retry on these (and EPERM: a firewall rule). */
	case EPROTO:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
	case EPERM:
		return -EAGAIN;
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		el_srv_logf(srv, "accept: %s (pausing %d ms)", strerror(err), ACCEPT_PAUSE_MS);
		if (resume_ms)
			*resume_ms = el_io_now_ms() + ACCEPT_PAUSE_MS;
		return -EMFILE;
	default:
		return -err;
	}
}

void el_srv_pause(struct el_srv *srv, int ms)
{
	struct pollfd pfd = {.fd = srv->stop_fd, .events = POLLIN};
	el_io_poll(&pfd, 1, el_io_now_ms() + ms, false);
}

void el_srv_reject_busy(struct el_srv *srv, int fd, const struct sockaddr *peer)
{
	static const char busy[] = "! busy\n";
	char addr[EL_ADDR_STRLEN] = "?";
	unsigned port = 0;
	el_addr_format(peer, addr, &port);
	el_srv_logf(srv, "busy %s %u max-conns=%ld", addr, port, srv->cfg.max_conns);

	el_io_set_nonblock(fd, true);
	/* A fresh socket takes 7 bytes at once, but a write may still be cut
	 * short or interrupted: finish it, for 100 ms at most. */
	el_io_write_all(fd, busy, sizeof(busy) - 1, el_io_now_ms() + 100);
	shutdown(fd, SHUT_WR);
	/* Closing a socket with unread bytes sends RST instead of FIN, and the
	 * RST could destroy "! busy" before the client reads it: read what the
	 * client already sent. At most 64 KiB: a client that keeps sending
	 * would otherwise keep the accepting thread here, past a stop. */
	char sink[4096];
	for (int i = 0; i < 16 && el_io_read(fd, sink, sizeof(sink)) > 0; i++)
		;
	close(fd);
}
