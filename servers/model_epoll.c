/* The epoll model: --workers event loops, each a thread with its own epoll
 * instance and its own connections, given non-blocking turns by the
 * connection core.
 *
 * Spreading connections: every loop watches the one listening socket with
 * EPOLLEXCLUSIVE, so the kernel wakes one loop (rarely more) per new
 * connection and that loop accepts it. This needs no change to how the
 * server binds (SO_REUSEPORT would need a socket per loop, bound before the
 * port is known). The comparison with SO_REUSEPORT under load belongs to
 * the event-model benchmark (issue 6) and is not measured yet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "conn.h"
#include "io.h"
#include "models.h"

struct eloop {
	struct el_srv *srv;
	pthread_t thread;
	int ep;
	struct el_conn_lru lru; /* every connection of this loop */
	int64_t paused_until;
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

static void accept_all(struct eloop *l)
{
	struct el_conn *c;
	int rc;
	while ((rc = el_conn_accept_new(l->srv, sizeof(struct econn), &c)) > 0) {
		el_conn_lru_push(&l->lru, c);
		arm(l, c, EPOLL_CTL_ADD, EL_CONN_WANT_READ);
	}
	if (rc == -EMFILE) {
		listen_on(l, false);
		l->paused_until = el_io_now_ms() + 100;
	}
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
	int64_t deadline = el_io_now_ms() + 1000;
	while (l->lru.oldest) {
		struct el_conn *c = l->lru.oldest;
		el_conn_lru_remove(&l->lru, c);
		el_conn_stop(c, deadline);
		free(c);
		el_srv_conn_release(srv);
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
	int started = 0, rc = 0;
	for (int i = 0; i < n; i++) {
		struct eloop *l = &loops[started];
		l->srv = srv;
		l->ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &stop_tag};
		epoll_ctl(l->ep, EPOLL_CTL_ADD, srv->stop_fd, &sev);
		listen_on(l, true);
		int err = l->ep < 0 ? errno
				    : el_srv_spawn_fails(srv) ? EAGAIN
							      : pthread_create(&l->thread, NULL, run_loop, l);
		if (err) {
			el_srv_logf(srv, "epoll: cannot start an event loop: %s", strerror(err));
			if (l->ep >= 0)
				close(l->ep);
			continue;
		}
		started++;
	}
	if (started == 0) {
		fprintf(stderr, "echolab-server: cannot start any event loop\n");
		rc = 1;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(loops[i].thread, NULL);
		close(loops[i].ep);
	}
	free(loops);
	return rc;
}
