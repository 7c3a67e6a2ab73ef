/* The epoll set the epoll and threadpool models wait on (loop.h): a watch
 * is one epoll_ctl with the core's tag, and one wait until deadline_ms
 * that gives the listener to el_loop_accept, a ready connection to
 * ready, and the inbox's wake-up to inbox (NULL: a single loop has none;
 * the stop is left to the core). What differs between the two models is
 * what a ready connection gets: its turn on the loop's thread (epoll) or
 * a place in the pool's queue (threadpool). Inline, so that each model's
 * copy calls its own ready directly, as its own loop did before: out of
 * line, through a pointer, the epoll model read 0.94x the msgs/s of the
 * build before at 100 connections (8 rounds side by side), inline 0.99x;
 * both within this machine's spread, but nothing is paid for the inline. */
#ifndef EL_LOOP_EPOLL_H
#define EL_LOOP_EPOLL_H

#include <errno.h>
#include <sys/epoll.h>

#include "loop.h"

static inline int el_loop_epoll_watch(int ep, int op, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = {.events = events, .data.u64 = tag};
	return epoll_ctl(ep, op, fd, &ev) < 0 ? -errno : 0;
}

static inline void el_loop_epoll_wait(struct el_loop *l, int ep, int64_t deadline_ms,
				      void (*ready)(struct el_loop *l, struct el_conn *c), void (*inbox)(struct el_loop *l))
{
	struct epoll_event evs[256];
	int n = epoll_wait(ep, evs, 256, el_loop_timeout(deadline_ms));
	for (int i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;
		switch (el_ev_kind(tag)) {
		case EL_EV_CONN:
			ready(l, el_ev_ptr(tag));
			break;
		case EL_EV_LISTENER:
			el_loop_accept(l);
			break;
		case EL_EV_INBOX:
			if (inbox)
				inbox(l);
			break;
		default: /* the stop: the core sees it */
			break;
		}
	}
}

#endif
