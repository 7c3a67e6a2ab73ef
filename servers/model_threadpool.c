/* The threadpool model (half-sync/half-async): one thread waits for
 * readiness on every connection with epoll and hands each ready connection
 * to --workers worker threads through a bounded queue; a worker gives it a
 * turn (read, frame, reply, write) and re-arms it. Far more connections
 * than workers are served at once.
 *
 * Ownership: a connection is either armed in epoll (owned by nobody) or
 * `queued` (owned by the queue or one worker). The flag changes only under
 * the pool lock, and a worker re-arms under that lock, so an event can
 * never reach a connection a worker still holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "conn.h"
#include "io.h"
#include "models.h"

#define QUEUE_CAP 1024
#define SWEEP_MS 100

struct tp_conn {
	struct el_conn c; /* first; in the pool's list of all connections */
	bool queued;
	bool expired; /* idle timeout: the worker closes it */
};

struct pool {
	struct el_srv *srv;
	int ep;
	pthread_mutex_t lock;
	pthread_cond_t nonempty, nonfull;
	struct tp_conn *queue[QUEUE_CAP];
	size_t head, count;
	struct el_conn_lru all; /* every connection, for sweeps and stop (under the lock) */
	bool stopping;
};

/* Under the lock. */
static void enqueue(struct pool *p, struct tp_conn *t)
{
	while (p->count == QUEUE_CAP)
		pthread_cond_wait(&p->nonfull, &p->lock);
	t->queued = true;
	p->queue[(p->head + p->count++) % QUEUE_CAP] = t;
	pthread_cond_signal(&p->nonempty);
}

static void close_conn(struct pool *p, struct tp_conn *t, enum el_conn_end end, int err)
{
	pthread_mutex_lock(&p->lock);
	el_conn_lru_remove(&p->all, &t->c);
	pthread_mutex_unlock(&p->lock);
	/* Closing the fd also takes it out of the epoll set. */
	el_conn_finish(&t->c, end, err);
	free(t);
	el_srv_conn_release(p->srv);
	el_srv_loop_left(p->srv, 0);
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->count == 0 && !p->stopping)
			pthread_cond_wait(&p->nonempty, &p->lock);
		if (p->count == 0) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		struct tp_conn *t = p->queue[p->head];
		p->head = (p->head + 1) % QUEUE_CAP;
		p->count--;
		pthread_cond_signal(&p->nonfull);
		pthread_mutex_unlock(&p->lock);

		if (t->expired) {
			close_conn(p, t, EL_CONN_END_IDLE, 0);
			continue;
		}
		enum el_conn_end end;
		int err;
		int want = el_conn_pump(&t->c, &end, &err);
		if (want == 0) {
			close_conn(p, t, end, err);
			continue;
		}
		struct epoll_event ev = {
			.events = EPOLLONESHOT | (want & EL_CONN_WANT_READ ? EPOLLIN : 0) |
				  (want & EL_CONN_WANT_WRITE ? EPOLLOUT : 0),
			.data.ptr = t,
		};
		pthread_mutex_lock(&p->lock);
		epoll_ctl(p->ep, EPOLL_CTL_MOD, t->c.fd, &ev);
		t->queued = false;
		pthread_mutex_unlock(&p->lock);
	}
}

static void accept_all(struct pool *p, int64_t *paused_until)
{
	struct el_conn *c;
	int rc;
	while ((rc = el_conn_accept_new(p->srv, sizeof(struct tp_conn), &c)) > 0) {
		struct tp_conn *t = (struct tp_conn *)c;
		el_srv_loop_joined(p->srv, 0);
		pthread_mutex_lock(&p->lock);
		el_conn_lru_push(&p->all, c);
		struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = t};
		epoll_ctl(p->ep, EPOLL_CTL_ADD, c->fd, &ev);
		pthread_mutex_unlock(&p->lock);
	}
	if (rc == -EMFILE) {
		/* Stop watching the listener for a while rather than spin on a
		 * queue we cannot empty. */
		struct epoll_event off = {.events = 0, .data.ptr = NULL};
		epoll_ctl(p->ep, EPOLL_CTL_MOD, p->srv->listen_fd, &off);
		*paused_until = el_io_now_ms() + EL_SRV_ACCEPT_PAUSE_MS;
	}
}

/* Hands idle-expired connections to the workers to close. A sweep walks
 * every connection; at one walk per SWEEP_MS that is fine for a pool of
 * threads (the event models keep O(1) timers instead). */
static void sweep_idle(struct pool *p)
{
	int64_t idle = p->srv->cfg.idle_timeout_ms, now = el_io_now_ms();
	pthread_mutex_lock(&p->lock);
	for (struct el_conn *c = p->all.oldest; c; c = c->newer) {
		struct tp_conn *t = (struct tp_conn *)c;
		if (!t->queued && now - t->c.last_active_ms >= idle) {
			t->expired = true;
			enqueue(p, t);
		}
	}
	pthread_mutex_unlock(&p->lock);
}

int el_model_threadpool_run(struct el_srv *srv)
{
	struct pool *p = calloc(1, sizeof(*p));
	int nworkers = srv->cfg.workers;
	pthread_t *threads = calloc((size_t)nworkers, sizeof(*threads));
	/* Its connections counted as one loop's (--processes reports them). */
	el_srv_loops_start(srv, 1);
	if (!p || !threads) {
		fprintf(stderr, "echolab-server: out of memory\n");
		free(p);
		free(threads);
		return 1;
	}
	p->srv = srv;
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	if (p->ep < 0) {
		fprintf(stderr, "echolab-server: epoll_create1: %s\n", strerror(errno));
		free(p);
		free(threads);
		return 1;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->nonempty, NULL);
	pthread_cond_init(&p->nonfull, NULL);
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	struct epoll_event sev = {.events = EPOLLIN, .data.ptr = p};
	epoll_ctl(p->ep, EPOLL_CTL_ADD, srv->listen_fd, &lev);
	epoll_ctl(p->ep, EPOLL_CTL_ADD, srv->stop_fd, &sev);

	/* A worker that cannot start is logged; the pool runs with the rest,
	 * and only a pool without any worker is a failure. */
	int started = 0, rc = 0;
	for (int i = 0; i < nworkers; i++) {
		int err = el_srv_thread(srv, &threads[started], NULL, worker, p);
		if (err)
			el_srv_logf(srv, "threadpool: cannot start a worker thread: %s", strerror(-err));
		else
			started++;
	}
	if (started == 0) {
		fprintf(stderr, "echolab-server: cannot start any worker thread\n");
		rc = 1;
	}

	int64_t paused_until = 0, last_sweep = el_io_now_ms();
	while (rc == 0 && !el_srv_should_stop(srv)) {
		struct epoll_event evs[256];
		int timeout = srv->cfg.idle_timeout_ms > 0 || paused_until ? SWEEP_MS : -1;
		int n = epoll_wait(p->ep, evs, 256, timeout);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				accept_all(p, &paused_until);
			} else if (evs[i].data.ptr != p) {
				struct tp_conn *t = evs[i].data.ptr;
				pthread_mutex_lock(&p->lock);
				if (!t->queued)
					enqueue(p, t);
				pthread_mutex_unlock(&p->lock);
			}
		}
		int64_t now = el_io_now_ms();
		if (paused_until && now >= paused_until) {
			paused_until = 0;
			epoll_ctl(p->ep, EPOLL_CTL_MOD, srv->listen_fd, &lev);
		}
		if (srv->cfg.idle_timeout_ms > 0 && now - last_sweep >= SWEEP_MS) {
			last_sweep = now;
			sweep_idle(p);
		}
	}

	/* Stop: workers finish the turn they are in and leave; then every
	 * connection answers what it has read and closes, all within 1 s. */
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	p->count = 0;
	pthread_cond_broadcast(&p->nonempty);
	pthread_cond_broadcast(&p->nonfull);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	int64_t deadline = el_io_now_ms() + EL_SRV_STOP_CONN_MS;
	while (p->all.oldest) {
		struct tp_conn *t = (struct tp_conn *)p->all.oldest;
		el_conn_lru_remove(&p->all, &t->c);
		el_conn_stop(&t->c, deadline);
		free(t);
		el_srv_conn_release(srv);
		el_srv_loop_left(srv, 0);
	}
	el_srv_loops_report(srv);
	close(p->ep);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->nonempty);
	pthread_cond_destroy(&p->nonfull);
	free(threads);
	free(p);
	return rc;
}
