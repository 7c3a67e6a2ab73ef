/* A worker's event loop (load_engine.h): its connections, the gate, and
 * its waits, on readiness or paced by its sends' clock. */
#include "load_engine.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "io.h"
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

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
			el_load_conn_begin(w, c, now);
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

void *el_load_worker_run(void *arg)
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
			next_tick = el_load_tick(w, now);
			if (l->cfg.count > 0 && all_done(w))
				break;
		}
		if (!end && l->interval_us && now + l->early_us >= next_send)
			next_send = el_load_schedule(w, now);
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
				el_load_on_event(w, evs[i].data.ptr, evs[i].events, now);
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
	el_load_log_flush(w);
	__atomic_store_n(&w->shard->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Sets up worker i over connections [first, first + n). */
int el_load_worker_init(struct el_load *l, size_t i, long first, long n)
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
			el_load_heap_down(w, k);
	}
	return 0;
}

void el_load_worker_finish(struct worker *w)
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
