/* The epoll model: --workers event loops (loop.h), each a thread with its
 * own epoll instance and its own connections, given non-blocking turns by
 * the connection core.
 *
 * Spreading connections: every loop watches the one listening socket with
 * EPOLLEXCLUSIVE, so the kernel wakes one loop (rarely more) per new
 * connection and that loop accepts it. This needs no change to how the
 * server binds (SO_REUSEPORT would need a socket per loop, bound before the
 * port is known, and would let a second server share the port).
 *
 * But one wake-up accepts everything queued, so a burst of connects all
 * landed on one loop (100 of 100 seen) and the other CPU idled. The loop
 * that accepts therefore deals each connection to the loop of the CPU
 * that took the client's packets (the core's deal: SO_INCOMING_CPU; loop
 * i is pinned to the i-th CPU the server may use), into that loop's inbox
 * with an eventfd to wake it. Measured on 2 CPUs, 100 connections, raw:
 * 280-300k msgs/s when one loop held them all, about the same dealt
 * round-robin (each client thread then wakes both CPUs), 620k dealt by CPU
 * (4 runs of 5; the fifth, 243k, had the client's threads on one CPU).
 * Round-robin where the kernel says nothing. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "io.h"
#include "loop.h"
#include "loop_epoll.h"
#include "models.h"

struct eloop {
	struct el_loop l; /* first: the core allocates the struct */
	int ep;
	int wake_fd; /* eventfd: the inbox has connections */
};

struct econn {
	struct el_conn c; /* first: the core allocates the struct */
	int armed;        /* the EL_CONN_WANT_* mask epoll watches */
};

static int watch(struct eloop *e, int op, int fd, uint32_t events, uint64_t tag)
{
	return el_loop_epoll_watch(e->ep, op, fd, events, tag);
}

static uint32_t events_of(int want)
{
	return (want & EL_CONN_WANT_READ ? EPOLLIN : 0) | (want & EL_CONN_WANT_WRITE ? EPOLLOUT : 0);
}

static void finish(struct el_loop *l)
{
	struct eloop *e = (struct eloop *)l;
	close(e->ep);
	if (e->wake_fd >= 0)
		close(e->wake_fd);
}

static int init(struct el_loop *l)
{
	struct eloop *e = (struct eloop *)l;
	e->ep = epoll_create1(EPOLL_CLOEXEC);
	if (e->ep < 0)
		return -errno;
	e->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int rc = e->wake_fd < 0 ? -errno : 0;
	if (rc == 0)
		rc = watch(e, EPOLL_CTL_ADD, l->srv->stop_fd, EPOLLIN, el_ev_tag(EL_EV_STOP, 0));
	if (rc == 0)
		rc = watch(e, EPOLL_CTL_ADD, e->wake_fd, EPOLLIN, el_ev_tag(EL_EV_INBOX, 0));
	if (rc < 0)
		finish(l);
	return rc;
}

static void listen_on(struct el_loop *l, bool on)
{
	/* EPOLLEXCLUSIVE cannot be modified: the listener goes out and back. */
	watch((struct eloop *)l, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, l->srv->listen_fd, EPOLLIN | EPOLLEXCLUSIVE,
	      el_ev_tag(EL_EV_LISTENER, 0));
}

static int add(struct el_loop *l, struct el_conn *c)
{
	((struct econn *)c)->armed = EL_CONN_WANT_READ;
	return watch((struct eloop *)l, EPOLL_CTL_ADD, c->fd, EPOLLIN, el_ev_tag_ptr(EL_EV_CONN, c));
}

static void arm(struct el_loop *l, struct el_conn *c, int want)
{
	/* epoll_ctl only when the mask changes: a message costs then one
	 * epoll_wait, one read and one send. */
	struct econn *ec = (struct econn *)c;
	if (ec->armed == want)
		return;
	ec->armed = want;
	watch((struct eloop *)l, EPOLL_CTL_MOD, c->fd, events_of(want), el_ev_tag_ptr(EL_EV_CONN, c));
}

static void wake(struct el_loop *to)
{
	uint64_t one = 1;
	ssize_t w = write(((struct eloop *)to)->wake_fd, &one, sizeof(one));
	(void)w;
}

static void take_inbox(struct el_loop *l)
{
	uint64_t v;
	ssize_t r = read(((struct eloop *)l)->wake_fd, &v, sizeof(v));
	(void)r;
	el_loop_take_inbox(l);
}

static void wait_events(struct el_loop *l, int64_t deadline_ms)
{
	el_loop_epoll_wait(l, ((struct eloop *)l)->ep, deadline_ms, el_loop_turn, take_inbox);
}

static const struct el_loop_ops epoll_ops = {EL_LOOP_OPS(struct eloop, struct econn), .arm = arm, .wake = wake};

int el_model_epoll_run(struct el_srv *srv)
{
	return el_loop_group_run(srv, &epoll_ops, srv->cfg.workers, NULL);
}
