/* The event-loop core (loop.h): a connection's life in a loop, the loop's
 * duties between waits, and a group of loops dealing connections. */
#include "loop.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

/* A connection whose idle time is up while a worker holds it (ops->busy)
 * is tried again this much later, rather than at once and again. */
#define EXPIRY_RETRY_MS 10

struct el_loop_group {
	const struct el_loop_ops *ops;
	char *mem; /* n loops of stride bytes */
	size_t stride;
	int n;         /* loops that run; set before any serves */
	unsigned next; /* the round-robin deal (atomic) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int ready;     /* loops whose init has run */
	bool all_made; /* every loop's thread was started (or failed to) */
	bool failed;   /* an init failed: no loop serves */
	/* The stop's one deadline, set by the first loop that stops: every
	 * drain, the loops' and the group's at the end, keeps to it (two
	 * deadlines of a second in turn took a stop past its 2 s). */
	_Atomic int64_t stop_deadline;
};

static int64_t stop_deadline(struct el_loop_group *g)
{
	int64_t none = 0, d = el_io_now_ms() + EL_SRV_STOP_CONN_MS;
	return atomic_compare_exchange_strong(&g->stop_deadline, &none, d) ? d : none;
}

static struct el_loop *at(const struct el_loop_group *g, int i)
{
	return (struct el_loop *)(g->mem + (size_t)i * g->stride);
}

int el_loop_group_size(const struct el_loop *l)
{
	return l->group->n;
}

struct el_loop *el_loop_group_at(const struct el_loop *l, int i)
{
	return at(l->group, i);
}

static void guard(struct el_loop *l)
{
	if (l->guard)
		pthread_mutex_lock(l->guard);
}

static void unguard(struct el_loop *l)
{
	if (l->guard)
		pthread_mutex_unlock(l->guard);
}

/* Logs "# close", closes and frees an ended connection. */
static void free_conn(struct el_loop *l, struct el_conn *c)
{
	el_conn_finish(c, c->end, c->end_err);
	free(c);
	el_srv_conn_release(l->srv);
}

/* Under the guard: takes c off the loop's lists. Returns true when the
 * caller frees it now, false when it waits for el_loop_settle (or was
 * ended already). */
static bool unlist(struct el_loop *l, struct el_conn *c, enum el_conn_end end, int err)
{
	if (c->ended)
		return false;
	c->ended = true;
	c->end = end;
	c->end_err = err;
	el_conn_lru_remove(&l->conns, c);
	el_srv_loop_left(l->srv, l->index);
	if (l->ops->release && !l->ops->release(l, c)) {
		el_conn_lru_push(&l->ended, c);
		return false;
	}
	return true;
}

void el_loop_end(struct el_loop *l, struct el_conn *c, enum el_conn_end end, int err)
{
	guard(l);
	bool now = unlist(l, c, end, err);
	unguard(l);
	if (now)
		free_conn(l, c);
}

void el_loop_settle(struct el_loop *l, struct el_conn *c)
{
	guard(l);
	el_conn_lru_remove(&l->ended, c);
	unguard(l);
	free_conn(l, c);
}

int el_loop_timeout(int64_t deadline_ms)
{
	if (deadline_ms < 0)
		return -1;
	int64_t left = deadline_ms - el_io_now_ms();
	return left < 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
}

void el_loop_stop(struct el_loop *l)
{
	l->stopping = true;
}

static struct el_conn *open_conn(struct el_loop *l, int fd, const struct sockaddr_storage *known)
{
	struct el_srv *srv = l->srv;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	if (known)
		peer = *known;
	else if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0) {
		close(fd); /* the client went away first */
		return NULL;
	}
	if (!el_srv_conn_acquire(srv)) {
		el_srv_reject_busy(srv, fd, (struct sockaddr *)&peer);
		return NULL;
	}
	struct el_conn *c = calloc(1, l->ops->conn_size);
	if (!c)
		close(fd); /* el_conn_init closes fd when it fails */
	if (!c || el_conn_init(c, srv, fd, (struct sockaddr *)&peer) < 0) {
		free(c);
		el_srv_conn_release(srv);
		return NULL;
	}
	guard(l);
	el_conn_lru_push(&l->conns, c);
	unguard(l);
	el_srv_loop_joined(srv, l->index);
	/* A stopping loop takes a connection only to stop it in its drain. */
	if (l->stopping)
		return c;
	int rc = l->ops->add(l, c);
	if (rc < 0) {
		el_loop_end(l, c, EL_CONN_END_ERROR, rc);
		return NULL;
	}
	return c;
}

struct el_conn *el_loop_open(struct el_loop *l, int fd)
{
	return open_conn(l, fd, NULL);
}

/* Appends fd to loop to's inbox. Returns false without room. */
static bool inbox_put(struct el_loop *to, int fd)
{
	pthread_mutex_lock(&to->inbox_lock);
	int *in = el_srv_grow(to->inbox, &to->inbox_cap, to->inbox_len + 1, sizeof(*in), 16);
	if (in) {
		to->inbox = in;
		in[to->inbox_len++] = fd;
	}
	pthread_mutex_unlock(&to->inbox_lock);
	return in != NULL;
}

void el_loop_take_inbox(struct el_loop *l)
{
	for (;;) {
		pthread_mutex_lock(&l->inbox_lock);
		int fd = l->inbox_len > 0 ? l->inbox[--l->inbox_len] : -1;
		pthread_mutex_unlock(&l->inbox_lock);
		if (fd < 0)
			return;
		open_conn(l, fd, NULL);
	}
}

/* Hands a new connection to the loop on the CPU that took the client's
 * packets (el_srv_loop_for, which says why), or keeps it. */
static void deal(struct el_loop *l, int fd, const struct sockaddr_storage *peer)
{
	struct el_loop_group *g = l->group;
	struct el_loop *to = l;
	if (g->n > 1 && !l->stopping)
		to = at(g, (int)el_srv_loop_for(l->srv, fd, (unsigned)g->n, &g->next));
	if (to == l || to->stopping) {
		open_conn(l, fd, peer);
		return;
	}
	if (l->ops->deal) {
		if (!l->ops->deal(l, to, fd))
			open_conn(l, fd, peer);
		return;
	}
	if (!inbox_put(to, fd)) {
		open_conn(l, fd, peer);
		return;
	}
	l->ops->wake(to);
}

/* accept4 gave a blocking fd: the loop's turns need it non-blocking. */
static void take_accepted(void *arg, int fd, const struct sockaddr_storage *peer)
{
	el_io_set_nonblock(fd, true);
	deal(arg, fd, peer);
}

void el_loop_accept(struct el_loop *l)
{
	if (el_srv_accept_all(l->srv, take_accepted, l, &l->accept_resume_ms) == -EMFILE)
		l->ops->listen(l, false);
}

void el_loop_accepted(struct el_loop *l, int res)
{
	if (res >= 0)
		deal(l, res, NULL);
	else if (el_srv_accept_error(l->srv, -res, &l->accept_resume_ms) == -EMFILE)
		l->ops->listen(l, false);
}

void el_loop_turn(struct el_loop *l, struct el_conn *c)
{
	int64_t active = c->last_active_ms;
	enum el_conn_end end;
	int err;
	int want = el_conn_pump(c, &end, &err);
	guard(l);
	bool ended = want == 0 && unlist(l, c, end, err);
	if (want != 0) {
		l->ops->arm(l, c, want);
		el_conn_lru_touch(&l->conns, c, active);
	}
	unguard(l);
	if (ended)
		free_conn(l, c);
}

void el_loop_touched(struct el_loop *l, struct el_conn *c, int64_t active_before)
{
	if (c->ended)
		return;
	guard(l);
	el_conn_lru_touch(&l->conns, c, active_before);
	unguard(l);
}

/* Ends the connections whose idle time is up (el_conn_lru_expired). */
/* Under the guard: a worker holds the oldest connection, whose clock is
 * then the worker's to write (ops->busy): not read now. */
static bool oldest_busy(struct el_loop *l)
{
	return l->conns.oldest && l->ops->busy && l->ops->busy(l, l->conns.oldest);
}

static void expire(struct el_loop *l, int64_t now)
{
	if (l->srv->cfg.idle_timeout_ms <= 0 || now < l->expiry_retry_ms)
		return;
	l->expiry_retry_ms = 0;
	for (;;) {
		guard(l);
		bool busy = oldest_busy(l);
		struct el_conn *c = busy ? NULL : el_conn_lru_expired(&l->conns, now);
		bool now_free = c && unlist(l, c, EL_CONN_END_IDLE, 0);
		unguard(l);
		if (busy)
			l->expiry_retry_ms = now + EXPIRY_RETRY_MS;
		if (!c)
			return;
		if (now_free)
			free_conn(l, c);
	}
}

/* When the loop must wake at the latest: the next idle expiry, the end of
 * an accept pause; -1 for neither. */
static int64_t next_deadline(struct el_loop *l)
{
	guard(l);
	bool busy = oldest_busy(l);
	int64_t d = busy ? -1 : el_conn_lru_deadline(&l->conns);
	unguard(l);
	if (busy && l->srv->cfg.idle_timeout_ms > 0)
		d = l->expiry_retry_ms ? l->expiry_retry_ms : el_io_now_ms() + EXPIRY_RETRY_MS;
	else if (d >= 0 && d < l->expiry_retry_ms)
		d = l->expiry_retry_ms;
	if (l->accept_resume_ms && (d < 0 || l->accept_resume_ms < d))
		d = l->accept_resume_ms;
	return d;
}

static void serve(struct el_loop *l)
{
	l->ops->listen(l, true);
	while (!l->stopping && !el_srv_should_stop(l->srv)) {
		l->ops->wait(l, next_deadline(l));
		int64_t now = el_io_now_ms();
		if (l->accept_resume_ms && now >= l->accept_resume_ms) {
			l->accept_resume_ms = 0;
			l->ops->listen(l, true);
		}
		expire(l, now);
	}
	l->stopping = true;
}

/* The stop: every connection answers what it has read and writes it out
 * by deadline_ms (el_conn_stop), then closes. Ended connections still
 * waiting for their operations are freed: nothing is in flight now. */
static void drain(struct el_loop *l, int64_t deadline_ms)
{
	struct el_conn *c;
	while ((c = l->ended.oldest)) {
		el_conn_lru_remove(&l->ended, c);
		free_conn(l, c);
	}
	el_loop_take_inbox(l);
	while ((c = l->conns.oldest)) {
		el_conn_lru_remove(&l->conns, c);
		el_srv_loop_left(l->srv, l->index);
		if (l->ops->flush)
			l->ops->flush(l, c, deadline_ms);
		el_conn_stop(c, deadline_ms);
		free(c);
		el_srv_conn_release(l->srv);
	}
}

/* Sets the loop up on its thread and waits for the others. Returns true
 * when every loop of the group is set up and serving may start. */
static bool start_together(struct el_loop *l)
{
	struct el_loop_group *g = l->group;
	l->err = l->ops->init(l);
	pthread_mutex_lock(&g->lock);
	g->ready++;
	if (l->err < 0)
		g->failed = true;
	pthread_cond_broadcast(&g->cond);
	while (!g->failed && (!g->all_made || g->ready < g->n))
		pthread_cond_wait(&g->cond, &g->lock);
	bool ok = !g->failed;
	pthread_mutex_unlock(&g->lock);
	return ok;
}

static void *run_loop(void *arg)
{
	struct el_loop *l = arg;
	if (start_together(l)) {
		serve(l);
		int64_t deadline = stop_deadline(l->group);
		if (l->ops->quiesce)
			l->ops->quiesce(l, deadline);
		drain(l, deadline);
	}
	return NULL;
}

int el_loop_group_run(struct el_srv *srv, const struct el_loop_ops *ops, int n, const void *arg)
{
	if (n < 1)
		n = 1;
	struct el_loop_group g = {
		.ops = ops,
		.stride = (ops->loop_size + 63) & ~(size_t)63,
		.n = n,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
	};
	g.mem = calloc((size_t)n, g.stride);
	if (!g.mem) {
		fprintf(stderr, "echolab-server: out of memory\n");
		return 1;
	}
	el_srv_loops_start(srv, n);
	for (int i = 0; i < n; i++) {
		struct el_loop *l = at(&g, i);
		*l = (struct el_loop){.srv = srv, .ops = ops, .group = &g, .index = i, .arg = arg, .thread = pthread_self()};
		pthread_mutex_init(&l->inbox_lock, NULL);
	}
	/* One loop runs on this thread, unpinned (nothing is dealt by CPU,
	 * and poll's and threadpool's loop never was pinned). Several run on
	 * threads of their own, loop i pinned to the i-th allowed CPU, while
	 * this thread waits; a loop whose thread cannot start is left out
	 * (logged), and the group serves with the others. */
	int made = n == 1 ? 1 : 0;
	for (int i = 0; n > 1 && i < n; i++) {
		struct el_loop *l = at(&g, made);
		int err = el_srv_thread(srv, &l->thread, NULL, run_loop, l);
		if (err) {
			el_srv_logf(srv, "%s: cannot start a loop: %s", srv->cfg.model, strerror(-err));
			continue;
		}
		el_srv_loop_pin(srv, l->thread, made);
		made++;
	}
	pthread_mutex_lock(&g.lock);
	g.n = made;
	g.all_made = true;
	g.failed |= made == 0;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	if (made == 0) {
		fprintf(stderr, "echolab-server: %s: cannot start any loop\n", srv->cfg.model);
		free(g.mem);
		return 1;
	}
	if (n == 1)
		run_loop(at(&g, 0));
	for (int i = 0; n > 1 && i < made; i++)
		pthread_join(at(&g, i)->thread, NULL);

	/* Connections dealt to a loop that had stopped already; then the
	 * mechanisms end, once no loop can deal to another. */
	int rc = 0;
	int64_t deadline = stop_deadline(&g);
	for (int i = 0; i < made; i++) {
		struct el_loop *l = at(&g, i);
		l->stopping = true; /* what its inbox still holds is stopped */
		if (l->err < 0 && rc == 0) {
			fprintf(stderr, "echolab-server: %s: cannot set a loop up: %s\n", srv->cfg.model, strerror(-l->err));
			rc = 1;
		}
		drain(l, deadline);
		if (l->err == 0 && l->ops->finish)
			l->ops->finish(l);
		pthread_mutex_destroy(&l->inbox_lock);
		free(l->inbox);
	}
	el_srv_loops_report(srv);
	free(g.mem);
	return rc;
}
