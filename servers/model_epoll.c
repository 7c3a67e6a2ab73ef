/* The epoll model: --workers event loops, each a thread with its own epoll
 * instance and its own connections, given non-blocking turns by the
 * connection core.
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
 * that took the client's packets (SO_INCOMING_CPU; loop i is pinned to
 * the i-th CPU the server may use), into that loop's inbox with an eventfd to wake it. Measured on
 * 2 CPUs, 100 connections, raw: 280-300k msgs/s when one loop held them
 * all, about the same dealt round-robin (each client thread then wakes
 * both CPUs), 620k dealt by CPU (4 runs of 5; the fifth, 243k, had the
 * client's threads on one CPU). Round-robin where the kernel says
 * nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "conn.h"
#include "io.h"
#include "models.h"

struct eloops;

struct eloop {
	struct el_srv *srv;
	struct eloops *all;
	int index; /* in all->loops; pinned to the index-th allowed CPU */
	pthread_t thread;
	int ep;
	struct el_conn_lru lru; /* every connection of this loop */
	int64_t paused_until;
	/* Connections another loop accepted for this one, linked by newer. */
	pthread_mutex_t inbox_lock;
	struct el_conn *inbox;
	int inbox_fd; /* eventfd: the inbox has connections */
};

struct eloops {
	struct eloop *loops;
	int started;   /* loops whose thread runs (atomic) */
	unsigned next; /* the round-robin deal (atomic) */
};

/* The listener and the stop pipe are told apart from connections by these
 * two addresses in epoll_event.data.ptr. */
static char listener_tag, stop_tag;

struct econn {
	struct el_conn c; /* first: the core allocates the struct */
	int armed;        /* the EL_CONN_WANT_* mask epoll watches */
};

static void arm(struct eloop *l, struct el_conn *c, int op, int want)
{
	/* epoll_ctl only when the mask changes: a message costs then one
	 * epoll_wait, one read and one send. */
	struct econn *e = (struct econn *)c;
	if (op == EPOLL_CTL_MOD && e->armed == want)
		return;
	e->armed = want;
	struct epoll_event ev = {
		.events = (want & EL_CONN_WANT_READ ? EPOLLIN : 0) |
			  (want & EL_CONN_WANT_WRITE ? EPOLLOUT : 0),
		.data.ptr = c,
	};
	epoll_ctl(l->ep, op, c->fd, &ev);
}

static void end_conn(struct eloop *l, struct el_conn *c, enum el_conn_end end, int err)
{
	el_conn_lru_remove(&l->lru, c);
	el_conn_finish(c, end, err); /* closing the fd leaves the epoll set */
	free(c);
	el_srv_conn_release(l->srv);
	el_srv_loop_left(l->srv, l->index);
}

static void listen_on(struct eloop *l, bool on)
{
	struct epoll_event ev = {.events = on ? EPOLLIN | EPOLLEXCLUSIVE : 0,
				 .data.ptr = &listener_tag};
	/* EPOLLEXCLUSIVE cannot be modified: take the listener out, put it
	 * back. */
	if (on)
		epoll_ctl(l->ep, EPOLL_CTL_ADD, l->srv->listen_fd, &ev);
	else
		epoll_ctl(l->ep, EPOLL_CTL_DEL, l->srv->listen_fd, &ev);
}

static void adopt(struct eloop *l, struct el_conn *c)
{
	el_conn_lru_push(&l->lru, c);
	el_srv_loop_joined(l->srv, l->index);
	arm(l, c, EPOLL_CTL_ADD, EL_CONN_WANT_READ);
}

static void deal(struct eloop *l, struct el_conn *c)
{
	struct eloops *all = l->all;
	int n = __atomic_load_n(&all->started, __ATOMIC_ACQUIRE);
	struct eloop *to = n > 1 ? &all->loops[el_srv_loop_for(l->srv, c->fd, (unsigned)n, &all->next)] : l;
	if (to == l) {
		adopt(l, c);
		return;
	}
	pthread_mutex_lock(&to->inbox_lock);
	c->newer = to->inbox;
	to->inbox = c;
	pthread_mutex_unlock(&to->inbox_lock);
	uint64_t one = 1;
	ssize_t w = write(to->inbox_fd, &one, sizeof(one));
	(void)w;
}

/* Takes the inbox's connections; the caller adopts or stops them. */
static struct el_conn *take_inbox(struct eloop *l)
{
	uint64_t v;
	ssize_t r = read(l->inbox_fd, &v, sizeof(v));
	(void)r;
	pthread_mutex_lock(&l->inbox_lock);
	struct el_conn *c = l->inbox;
	l->inbox = NULL;
	pthread_mutex_unlock(&l->inbox_lock);
	return c;
}

static void accept_all(struct eloop *l)
{
	struct el_conn *c;
	int rc;
	while ((rc = el_conn_accept_new(l->srv, sizeof(struct econn), &c)) > 0)
		deal(l, c);
	if (rc == -EMFILE) {
		listen_on(l, false);
		l->paused_until = el_io_now_ms() + EL_SRV_ACCEPT_PAUSE_MS;
	}
}

static void stop_conn(struct el_srv *srv, struct el_conn *c, int64_t deadline)
{
	el_conn_stop(c, deadline);
	free(c);
	el_srv_conn_release(srv);
}

static void *run_loop(void *arg)
{
	struct eloop *l = arg;
	struct el_srv *srv = l->srv;
	int64_t idle = srv->cfg.idle_timeout_ms;
	struct epoll_event evs[256];
	while (!el_srv_should_stop(srv)) {
		int64_t deadline = el_conn_lru_deadline(&l->lru, idle);
		if (l->paused_until && (deadline < 0 || l->paused_until < deadline))
			deadline = l->paused_until;
		int timeout = -1;
		if (deadline >= 0) {
			int64_t left = deadline - el_io_now_ms();
			timeout = left < 0 ? 0 : (int)left;
		}
		int n = epoll_wait(l->ep, evs, 256, timeout);
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &listener_tag) {
				accept_all(l);
				continue;
			}
			if (tag == &stop_tag)
				continue;
			if (tag == &l->inbox_lock) {
				struct el_conn *next;
				for (struct el_conn *c = take_inbox(l); c; c = next) {
					next = c->newer;
					adopt(l, c);
				}
				continue;
			}
			struct el_conn *c = tag;
			int64_t active = c->last_active_ms;
			enum el_conn_end end;
			int err;
			int want = el_conn_pump(c, &end, &err);
			if (want == 0) {
				end_conn(l, c, end, err);
				continue;
			}
			arm(l, c, EPOLL_CTL_MOD, want);
			el_conn_lru_touch(&l->lru, c, active);
		}
		int64_t now = el_io_now_ms();
		if (l->paused_until && now >= l->paused_until) {
			l->paused_until = 0;
			listen_on(l, true);
		}
		while (idle > 0 && l->lru.oldest && now - l->lru.oldest->last_active_ms >= idle)
			end_conn(l, l->lru.oldest, EL_CONN_END_IDLE, 0);
	}
	int64_t deadline = el_io_now_ms() + EL_SRV_STOP_CONN_MS;
	while (l->lru.oldest) {
		struct el_conn *c = l->lru.oldest;
		el_conn_lru_remove(&l->lru, c);
		stop_conn(srv, c, deadline);
		el_srv_loop_left(srv, l->index);
	}
	return NULL;
}

int el_model_epoll_run(struct el_srv *srv)
{
	int n = srv->cfg.workers;
	struct eloop *loops = calloc((size_t)n, sizeof(*loops));
	if (!loops) {
		fprintf(stderr, "echolab-server: out of memory\n");
		return 1;
	}
	struct eloops all = {.loops = loops};
	int started = 0, rc = 0;
	el_srv_loops_start(srv, n);
	for (int i = 0; i < n; i++) {
		struct eloop *l = &loops[started];
		l->srv = srv;
		l->all = &all;
		l->index = started;
		l->ep = epoll_create1(EPOLL_CLOEXEC);
		int made = l->ep < 0 ? -errno : 0; /* before later calls overwrite errno */
		l->inbox_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (!made && l->inbox_fd < 0)
			made = -errno;
		pthread_mutex_init(&l->inbox_lock, NULL);
		struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &stop_tag};
		epoll_ctl(l->ep, EPOLL_CTL_ADD, srv->stop_fd, &sev);
		struct epoll_event iev = {.events = EPOLLIN, .data.ptr = &l->inbox_lock};
		epoll_ctl(l->ep, EPOLL_CTL_ADD, l->inbox_fd, &iev);
		int err = made ? made : el_srv_thread(srv, &l->thread, NULL, run_loop, l);
		if (err) {
			el_srv_logf(srv, "epoll: cannot start an event loop: %s", strerror(-err));
			if (l->ep >= 0)
				close(l->ep);
			if (l->inbox_fd >= 0)
				close(l->inbox_fd);
			pthread_mutex_destroy(&l->inbox_lock);
			continue;
		}
		el_srv_loop_pin(srv, l->thread, l->index);
		started++;
		__atomic_store_n(&all.started, started, __ATOMIC_RELEASE);
	}
	/* Every loop listens once all have started: a loop that accepted
	 * while the next was still starting dealt among the loops started so
	 * far, and one run of 30 clients put all 30 on loop 0 (220k msgs/s
	 * against 556k in the four other repeats; the counts per loop, 30:0,
	 * showed it). Connections that come meanwhile wait in the backlog. */
	for (int i = 0; i < started; i++)
		listen_on(&loops[i], true);
	if (started == 0) {
		fprintf(stderr, "echolab-server: cannot start any event loop\n");
		rc = 1;
	}
	for (int i = 0; i < started; i++)
		pthread_join(loops[i].thread, NULL);
	/* Connections dealt to a loop that had already stopped. */
	int64_t deadline = el_io_now_ms() + EL_SRV_STOP_CONN_MS;
	for (int i = 0; i < started; i++) {
		struct el_conn *next;
		for (struct el_conn *c = take_inbox(&loops[i]); c; c = next) {
			next = c->newer;
			stop_conn(srv, c, deadline);
		}
		close(loops[i].ep);
		close(loops[i].inbox_fd);
		pthread_mutex_destroy(&loops[i].inbox_lock);
	}
	el_srv_loops_report(srv);
	free(loops);
	return rc;
}
