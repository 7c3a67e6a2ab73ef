/* The open loop's schedule (load_engine.h): which sends are due, fixed
 * (each connection's period shifted by its phase, in bursts) or Poisson
 * (a heap by next due time), each counted and written when it comes due. */
#include "load_engine.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "io.h"

/* Open loop: message sched of c, due at `at`, comes due now: counted in
 * the window's figures (the generator's lateness and the actual gap since
 * the connection's last send, or a send not made while it is down), and
 * written when it is up. */
static void send_now(struct worker *w, struct lconn *c, int64_t at, int64_t now)
{
	const struct el_load *l = w->l;
	bool up = c->state == C_UP && !c->probing;
	/* Written now, before its time: its RTT will run from now. (One due
	 * while its connection connects goes when it is up, timed from its
	 * due time.) */
	if (up && now < at) {
		unsigned k = (unsigned)(c->sched % EARLY_RING);
		c->early[k].seq1 = (uint32_t)(c->sched + 1);
		c->early[k].by_us = (int32_t)(at - now);
	}
	c->sched++;
	if (l->cfg.poisson)
		c->t_send += poisson_gap(l, &c->rng_send);
	/* The window's sends: the generator's lateness, or a send that will
	 * not be made (its connection is down: dropped when it is back,
	 * counted there as the error that took it down). */
	if (at >= l->start_us + (int64_t)(l->cfg.warmup_s * 1e6) && at < l->end_us &&
	    (l->cfg.count <= 0 || c->sched <= (uint64_t)l->cfg.count)) {
		struct el_load_shard *s = w->shard;
		bump(&s->scheduled, 1);
		if (up) {
			el_hist_add_shared(&s->late, now > at ? now - at : 0);
			if (now - at > l->interval_us / 10)
				bump(&s->late_sends, 1);
			else if (now < at)
				bump(&s->early_sends, 1);
			/* A uniform sample (a reservoir) of the gaps. */
			if (c->last_sent_us > 0) {
				double gap = (double)(now - c->last_sent_us);
				uint64_t seen = s->gaps_seen++;
				if (s->ngaps < EL_LOAD_GAP_SAMPLE)
					s->gaps[s->ngaps++] = gap;
				else if (el_rng_next(&w->rng) % (seen + 1) < EL_LOAD_GAP_SAMPLE)
					s->gaps[el_rng_next(&w->rng) % EL_LOAD_GAP_SAMPLE] = gap;
			}
			c->last_sent_us = now;
		} else {
			bump(&s->unsent, 1);
		}
	}
	/* A burst is written whole, once its last message is marked. */
	if (up && (c->sched % l->burst == 0 || (l->cfg.count > 0 && c->sched >= (uint64_t)l->cfg.count)))
		el_load_conn_write(w, c, now);
}

/* Open loop, fixed: marks the messages that are due, up to the bound
 * early (l->early_us; none past the run's end), in phase order (each
 * connection's schedule is the same period shifted, so the order in which
 * they come due never changes). Returns when the next one is due. The
 * pass's clock is read once: taking it again at each send (its lateness
 * to the microsecond) let an overloaded loop go on sending what came due
 * during the pass instead of reading replies, and cut the replies of a
 * run at 400,000 msgs/s offered from 254k/s to 192k/s. */
static int64_t schedule_fixed(struct worker *w, int64_t now)
{
	const struct el_load *l = w->l;
	for (uint64_t k = 0; k < (uint64_t)w->n * l->burst; k++) {
		struct lconn *c = &w->conns[w->cursor];
		int64_t at = send_due(l, c);
		if (at > now + l->early_us || (at > now && at >= l->end_us))
			return at;
		/* Early only on a connection that is up, where the send goes now
		 * (one due while connecting goes when it is up, timed from its
		 * due time: never before it), and only if an early burst's
		 * times fit the ring beside those still in flight, for every
		 * early RTT to run from its send. */
		if (at > now && (c->state != C_UP || c->probing ||
				 (c->sched % l->burst == 0 && c->sched - c->recvd + l->burst > EARLY_RING)))
			return at;
		send_now(w, c, at, now);
		if (c->sched % l->burst == 0)
			w->cursor = (w->cursor + 1) % (size_t)w->n;
	}
	return now;
}

/* The Poisson heap: w->heap[0] is the connection due first. */
static void heap_swap(struct worker *w, long i, long j)
{
	struct lconn *t = w->heap[i];
	w->heap[i] = w->heap[j];
	w->heap[j] = t;
	w->heap[i]->heap_pos = i;
	w->heap[j]->heap_pos = j;
}

void el_load_heap_down(struct worker *w, long i)
{
	for (;;) {
		long least = i, a = 2 * i + 1, b = a + 1;
		if (a < w->n && w->heap[a]->t_send < w->heap[least]->t_send)
			least = a;
		if (b < w->n && w->heap[b]->t_send < w->heap[least]->t_send)
			least = b;
		if (least == i)
			return;
		heap_swap(w, i, least);
		i = least;
	}
}

/* Open loop, Poisson: every connection whose next send is due, earliest
 * first. Returns when the next one is due. */
static int64_t schedule_poisson(struct worker *w, int64_t now)
{
	const struct el_load *l = w->l;
	for (;;) {
		struct lconn *c = w->heap[0];
		int64_t at = send_due(l, c);
		if (at > now)
			return at;
		send_now(w, c, at, now);
		el_load_heap_down(w, 0);
	}
}

int64_t el_load_schedule(struct worker *w, int64_t now)
{
	return w->l->cfg.poisson ? schedule_poisson(w, now) : schedule_fixed(w, now);
}
