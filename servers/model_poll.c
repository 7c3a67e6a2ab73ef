/* The poll model: one thread, one poll(2) loop over the listening socket
 * and every connection, each connection given non-blocking turns by the
 * connection core (el_conn_pump).
 *
 * Idle timeout in O(1) per event: the timeout is the same for every
 * connection, so connections kept in order of their last activity (moved
 * to the newest end whenever bytes move) have the next one to expire at
 * the oldest end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "io.h"
#include "models.h"

struct pconn {
	struct el_conn c; /* first: the core allocates the struct */
	size_t idx;       /* in the pollfd array */
};

struct ploop {
	struct el_srv *srv;
	struct pollfd *pfds; /* [0] listener, [1] stop, then connections */
	struct pconn **conns;
	size_t n, cap;
	struct el_conn_lru lru;
};

static bool add_conn(struct ploop *l, struct pconn *p)
{
	if (l->n == l->cap) {
		size_t cap = l->cap * 2;
		struct pollfd *pf = realloc(l->pfds, cap * sizeof(*pf));
		if (!pf)
			return false;
		l->pfds = pf;
		struct pconn **pc = realloc(l->conns, cap * sizeof(*pc));
		if (!pc)
			return false;
		l->conns = pc;
		l->cap = cap;
	}
	p->idx = l->n++;
	l->pfds[p->idx] = (struct pollfd){.fd = p->c.fd, .events = POLLIN};
	l->conns[p->idx] = p;
	el_conn_lru_push(&l->lru, &p->c);
	el_srv_loop_joined(l->srv, 0);
	return true;
}

static void remove_conn(struct ploop *l, struct pconn *p)
{
	size_t i = p->idx, last = --l->n;
	l->pfds[i] = l->pfds[last];
	l->conns[i] = l->conns[last];
	l->conns[i]->idx = i;
	el_conn_lru_remove(&l->lru, &p->c);
	el_srv_loop_left(l->srv, 0);
}

static void end_conn(struct ploop *l, struct pconn *p, enum el_conn_end end, int err)
{
	remove_conn(l, p);
	el_conn_finish(&p->c, end, err);
	free(p);
	el_srv_conn_release(l->srv);
}

/* Returns the time accepting may resume after EMFILE, or 0. */
static int64_t accept_all(struct ploop *l)
{
	struct el_conn *c;
	int rc;
	while ((rc = el_conn_accept_new(l->srv, sizeof(struct pconn), &c)) > 0) {
		if (!add_conn(l, (struct pconn *)c)) {
			el_conn_finish(c, EL_CONN_END_ERROR, -ENOMEM);
			free(c);
			el_srv_conn_release(l->srv);
		}
	}
	return rc == -EMFILE ? el_io_now_ms() + EL_SRV_ACCEPT_PAUSE_MS : 0;
}

int el_model_poll_run(struct el_srv *srv)
{
	struct ploop l = {.srv = srv, .n = 2, .cap = 64};
	l.pfds = calloc(l.cap, sizeof(*l.pfds));
	l.conns = calloc(l.cap, sizeof(*l.conns));
	if (!l.pfds || !l.conns) {
		fprintf(stderr, "echolab-server: out of memory\n");
		free(l.pfds);
		free(l.conns);
		return 1;
	}
	el_srv_loops_start(srv, 1);
	l.pfds[0] = (struct pollfd){.fd = srv->listen_fd, .events = POLLIN};
	l.pfds[1] = (struct pollfd){.fd = srv->stop_fd, .events = POLLIN};
	int64_t idle = srv->cfg.idle_timeout_ms, paused_until = 0;

	while (!el_srv_should_stop(srv)) {
		int64_t deadline = el_conn_lru_deadline(&l.lru, idle);
		if (paused_until && (deadline < 0 || paused_until < deadline))
			deadline = paused_until;
		if (el_io_poll(l.pfds, (nfds_t)l.n, deadline, false) < 0)
			continue;
		/* Backwards, so that a removal (the last entry moves into the
		 * hole) never skips an entry not yet seen. */
		for (size_t i = l.n; i-- > 2;) {
			if (!l.pfds[i].revents)
				continue;
			struct pconn *p = l.conns[i];
			int64_t active = p->c.last_active_ms;
			enum el_conn_end end;
			int err;
			int want = el_conn_pump(&p->c, &end, &err);
			if (want == 0) {
				end_conn(&l, p, end, err);
				continue;
			}
			l.pfds[i].events = (short)((want & EL_CONN_WANT_READ ? POLLIN : 0) |
						   (want & EL_CONN_WANT_WRITE ? POLLOUT : 0));
			el_conn_lru_touch(&l.lru, &p->c, active);
		}
		int64_t now = el_io_now_ms();
		if (l.pfds[0].revents & POLLIN)
			paused_until = accept_all(&l);
		if (paused_until && now >= paused_until)
			paused_until = 0;
		l.pfds[0].events = paused_until ? 0 : POLLIN;
		while (idle > 0 && l.lru.oldest && now - l.lru.oldest->last_active_ms >= idle)
			end_conn(&l, (struct pconn *)l.lru.oldest, EL_CONN_END_IDLE, 0);
	}

	int64_t deadline = el_io_now_ms() + EL_SRV_STOP_CONN_MS;
	while (l.n > 2) {
		struct pconn *p = l.conns[l.n - 1];
		remove_conn(&l, p);
		el_conn_stop(&p->c, deadline);
		free(p);
		el_srv_conn_release(srv);
	}
	free(l.pfds);
	free(l.conns);
	el_srv_loops_report(srv);
	return 0;
}
