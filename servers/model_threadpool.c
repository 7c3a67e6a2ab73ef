/* The threadpool model (half-sync/half-async): one event loop (loop.h)
 * waits for readiness on every connection with epoll and hands each ready
 * connection to --workers worker threads through a bounded queue; a
 * worker gives it its turn (el_loop_turn: read, frame, reply, write) and
 * re-arms it. Far more connections than workers are served at once.
 *
 * Ownership: a connection is either armed in epoll (owned by nobody) or
 * `queued` (owned by the queue or one worker). The flag changes only under
 * the pool lock, which is the loop's guard: the core re-arms (arm) and
 * changes its lists under it, so an event can never reach a connection a
 * worker still holds, and the loop's thread never ends one (idle expiry)
 * that a worker holds (busy). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"
#include "loop_epoll.h"
#include "models.h"

#define QUEUE_CAP 1024

struct tp_conn {
	struct el_conn c; /* first: the core allocates the struct */
	bool queued;
};

struct pool {
	struct el_loop l; /* first: the core allocates the struct */
	int ep;
	pthread_mutex_t lock; /* the loop's guard */
	pthread_cond_t nonempty, nonfull;
	struct tp_conn *queue[QUEUE_CAP];
	size_t head, count;
	bool stopping;
	pthread_t *workers;
	int nworkers;
};

static int watch(struct pool *p, int op, int fd, uint32_t events, uint64_t tag)
{
	return el_loop_epoll_watch(p->ep, op, fd, events, tag);
}

/* Under the lock. */
static void enqueue(struct pool *p, struct tp_conn *t)
{
	while (p->count == QUEUE_CAP && !p->stopping)
		pthread_cond_wait(&p->nonfull, &p->lock);
	if (p->stopping)
		return;
	t->queued = true;
	p->queue[(p->head + p->count++) % QUEUE_CAP] = t;
	pthread_cond_signal(&p->nonempty);
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->count == 0 && !p->stopping)
			pthread_cond_wait(&p->nonempty, &p->lock);
		if (p->stopping) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		struct tp_conn *t = p->queue[p->head];
		p->head = (p->head + 1) % QUEUE_CAP;
		p->count--;
		pthread_cond_signal(&p->nonfull);
		pthread_mutex_unlock(&p->lock);
		el_loop_turn(&p->l, &t->c);
	}
}

/* The stop: workers finish the turn they are in and leave; what is queued
 * stays with the core, which drains every connection. */
static void quiesce(struct el_loop *l, int64_t deadline_ms)
{
	(void)deadline_ms;
	struct pool *p = (struct pool *)l;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	p->count = 0;
	pthread_cond_broadcast(&p->nonempty);
	pthread_cond_broadcast(&p->nonfull);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nworkers; i++)
		pthread_join(p->workers[i], NULL);
	p->nworkers = 0;
	l->guard = NULL;
}

static void finish(struct el_loop *l)
{
	struct pool *p = (struct pool *)l;
	quiesce(l, 0); /* a pool that never served still has its workers */
	close(p->ep);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->nonempty);
	pthread_cond_destroy(&p->nonfull);
	free(p->workers);
}

static int init(struct el_loop *l)
{
	struct pool *p = (struct pool *)l;
	struct el_srv *srv = l->srv;
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	if (p->ep < 0)
		return -errno;
	int rc = watch(p, EPOLL_CTL_ADD, srv->stop_fd, EPOLLIN, el_ev_tag(EL_EV_STOP, 0));
	if (rc == 0)
		rc = watch(p, EPOLL_CTL_ADD, srv->listen_fd, 0, el_ev_tag(EL_EV_LISTENER, 0));
	p->workers = calloc((size_t)srv->cfg.workers, sizeof(*p->workers));
	if (rc == 0 && !p->workers)
		rc = -ENOMEM;
	if (rc < 0) {
		close(p->ep);
		free(p->workers);
		return rc;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->nonempty, NULL);
	pthread_cond_init(&p->nonfull, NULL);
	l->guard = &p->lock;
	/* A worker that cannot start is logged; the pool runs with the rest,
	 * and only a pool without any worker is a failure. */
	for (int i = 0; i < srv->cfg.workers; i++) {
		int err = el_srv_thread(srv, &p->workers[p->nworkers], NULL, worker, p);
		if (err)
			el_srv_logf(srv, "threadpool: cannot start a worker thread: %s", strerror(-err));
		else
			p->nworkers++;
	}
	if (p->nworkers > 0)
		return 0;
	finish(l);
	return -EAGAIN;
}

static void listen_on(struct el_loop *l, bool on)
{
	watch((struct pool *)l, EPOLL_CTL_MOD, l->srv->listen_fd, on ? EPOLLIN : 0, el_ev_tag(EL_EV_LISTENER, 0));
}

static uint32_t events_of(int want)
{
	return EPOLLONESHOT | (want & EL_CONN_WANT_READ ? EPOLLIN : 0) | (want & EL_CONN_WANT_WRITE ? EPOLLOUT : 0);
}

static int add(struct el_loop *l, struct el_conn *c)
{
	struct pool *p = (struct pool *)l;
	pthread_mutex_lock(&p->lock);
	int rc = watch(p, EPOLL_CTL_ADD, c->fd, events_of(EL_CONN_WANT_READ), el_ev_tag_ptr(EL_EV_CONN, c));
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* Under the lock (the core's guard): the worker's turn is over. */
static void arm(struct el_loop *l, struct el_conn *c, int want)
{
	watch((struct pool *)l, EPOLL_CTL_MOD, c->fd, events_of(want), el_ev_tag_ptr(EL_EV_CONN, c));
	((struct tp_conn *)c)->queued = false;
}

/* Under the lock. */
static bool busy(struct el_loop *l, struct el_conn *c)
{
	(void)l;
	return ((struct tp_conn *)c)->queued;
}

/* A ready connection goes to the workers, unless one holds it already. */
static void ready(struct el_loop *l, struct el_conn *c)
{
	struct pool *p = (struct pool *)l;
	struct tp_conn *t = (struct tp_conn *)c;
	pthread_mutex_lock(&p->lock);
	if (!t->queued)
		enqueue(p, t);
	pthread_mutex_unlock(&p->lock);
}

static void wait_events(struct el_loop *l, int64_t deadline_ms)
{
	el_loop_epoll_wait(l, ((struct pool *)l)->ep, deadline_ms, ready, NULL);
}

static const struct el_loop_ops threadpool_ops = {EL_LOOP_OPS(struct pool, struct tp_conn), .arm = arm, .busy = busy,
						  .quiesce = quiesce};

int el_model_threadpool_run(struct el_srv *srv)
{
	return el_loop_group_run(srv, &threadpool_ops, 1, NULL);
}
