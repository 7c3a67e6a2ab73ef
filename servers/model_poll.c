/* The poll model: one event loop (loop.h), one poll(2) over the listening
 * socket and every connection, each connection given non-blocking turns
 * by the connection core. Its mechanism is the pollfd array: a
 * connection's slot, kept dense (the last slot fills a hole). */
#include <errno.h>
#include <stdlib.h>

#include "io.h"
#include "loop.h"
#include "models.h"

/* The listener's and the stop pipe's slots; connections follow. */
enum { LISTENER, STOP, FIRST_CONN };

struct ploop {
	struct el_loop l; /* first: the core allocates the struct */
	struct pollfd *pfds;
	struct pconn **conns; /* conns[i] owns pfds[i] */
	size_t n, pfds_cap, conns_cap;
};

struct pconn {
	struct el_conn c; /* first: the core allocates the struct */
	size_t slot;
};

static int init(struct el_loop *l)
{
	struct ploop *p = (struct ploop *)l;
	p->pfds_cap = p->conns_cap = 64;
	p->n = FIRST_CONN;
	p->pfds = calloc(p->pfds_cap, sizeof(*p->pfds));
	p->conns = calloc(p->conns_cap, sizeof(*p->conns));
	if (!p->pfds || !p->conns) {
		free(p->pfds);
		free(p->conns);
		return -ENOMEM;
	}
	p->pfds[LISTENER] = (struct pollfd){.fd = l->srv->listen_fd};
	p->pfds[STOP] = (struct pollfd){.fd = l->srv->stop_fd, .events = POLLIN};
	return 0;
}

static void finish(struct el_loop *l)
{
	struct ploop *p = (struct ploop *)l;
	free(p->pfds);
	free(p->conns);
}

static void listen_on(struct el_loop *l, bool on)
{
	((struct ploop *)l)->pfds[LISTENER].events = on ? POLLIN : 0;
}

static int add(struct el_loop *l, struct el_conn *c)
{
	struct ploop *p = (struct ploop *)l;
	struct pollfd *pfds = el_srv_grow(p->pfds, &p->pfds_cap, p->n + 1, sizeof(*pfds), 64);
	if (pfds)
		p->pfds = pfds;
	struct pconn **conns = el_srv_grow(p->conns, &p->conns_cap, p->n + 1, sizeof(*conns), 64);
	if (conns)
		p->conns = conns;
	if (!pfds || !conns)
		return -ENOMEM;
	struct pconn *pc = (struct pconn *)c;
	pc->slot = p->n++;
	p->pfds[pc->slot] = (struct pollfd){.fd = c->fd, .events = POLLIN};
	p->conns[pc->slot] = pc;
	return 0;
}

static void arm(struct el_loop *l, struct el_conn *c, int want)
{
	((struct ploop *)l)->pfds[((struct pconn *)c)->slot].events =
		(short)((want & EL_CONN_WANT_READ ? POLLIN : 0) | (want & EL_CONN_WANT_WRITE ? POLLOUT : 0));
}

static bool release(struct el_loop *l, struct el_conn *c)
{
	struct ploop *p = (struct ploop *)l;
	struct pconn *pc = (struct pconn *)c;
	/* A connection that ended before add gave it a slot has none. */
	if (pc->slot >= FIRST_CONN && pc->slot < p->n && p->conns[pc->slot] == pc) {
		size_t last = --p->n;
		p->pfds[pc->slot] = p->pfds[last];
		p->conns[pc->slot] = p->conns[last];
		p->conns[pc->slot]->slot = pc->slot;
	}
	return true;
}

static void wait_events(struct el_loop *l, int64_t deadline_ms)
{
	struct ploop *p = (struct ploop *)l;
	if (el_io_poll(p->pfds, (nfds_t)p->n, deadline_ms, false) <= 0)
		return;
	/* Backwards, so that an end (the last slot moves into the hole) never
	 * skips a slot not yet seen. */
	for (size_t i = p->n; i-- > FIRST_CONN;)
		if (p->pfds[i].revents)
			el_loop_turn(l, &p->conns[i]->c);
	if (p->pfds[LISTENER].revents & POLLIN)
		el_loop_accept(l);
}

static const struct el_loop_ops poll_ops = {EL_LOOP_OPS(struct ploop, struct pconn), .arm = arm, .release = release};

int el_model_poll_run(struct el_srv *srv)
{
	return el_loop_group_run(srv, &poll_ops, 1, NULL);
}
