/* The event-loop core: what every event-driven model does, whatever tells
 * it that a connection is ready. A loop holds connections. The core opens
 * them (--max-conns and the busy reply, the per-loop counts), gives them
 * their turns, ends them (one path: el_loop_end), expires the idle ones,
 * pauses accepting after EMFILE, deals new connections among the loops of
 * a group and drains every connection on stop. A model supplies only its
 * mechanism, behind struct el_loop_ops:
 * - readiness (poll, epoll): wait, report each ready connection to
 *   el_loop_turn, and arm a connection for what its turn says it wants;
 * - completion (uring): its own reads and writes, reported to the core as
 *   activity (el_loop_touched) and ends, and an end that may wait for the
 *   operations in flight (release, then el_loop_settle);
 * - a queue (threadpool): the loop's thread waits and hands ready
 *   connections to workers, which call el_loop_turn themselves; the core
 *   then changes its lists under the loop's guard.
 * docs/development.md says what a new model writes. */
#ifndef EL_LOOP_H
#define EL_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conn.h"
#include "server.h"

/* An event's tag: what the event is about in its low EL_EV_BITS bits, and
 * above them the object it concerns (a connection, a loop) or a number.
 * One encoding for epoll_event.data.u64, io_uring's user_data and a poll
 * slot: a model needs no tags of its own. */
enum el_ev {
	EL_EV_CONN,     /* a connection is ready (readiness) */
	EL_EV_RECV,     /* a connection's receive completed (completion) */
	EL_EV_SEND,     /* a connection's send completed (completion) */
	EL_EV_LISTENER, /* the listener is ready, or an accept completed */
	EL_EV_STOP,     /* the stop pipe is readable */
	EL_EV_INBOX,    /* another loop dealt this one connections */
	EL_EV_DEALT,    /* the outcome of dealing a connection (completion) */
	EL_EV_CANCEL,   /* the stop's cancellation completed (completion) */
};
#define EL_EV_BITS 4

static inline uint64_t el_ev_tag(enum el_ev ev, uint64_t what)
{
	return what << EL_EV_BITS | (uint64_t)ev;
}
static inline uint64_t el_ev_tag_ptr(enum el_ev ev, const void *what)
{
	return el_ev_tag(ev, (uintptr_t)what);
}
static inline enum el_ev el_ev_kind(uint64_t tag)
{
	return (enum el_ev)(tag & ((1u << EL_EV_BITS) - 1));
}
static inline uint64_t el_ev_what(uint64_t tag)
{
	return tag >> EL_EV_BITS;
}
static inline void *el_ev_ptr(uint64_t tag)
{
	return (void *)(uintptr_t)el_ev_what(tag);
}

struct el_loop;
struct el_loop_group;

/* A model's mechanism. Every function is called on the loop's own thread
 * (a threadpool's arm also on a worker's, under the guard) unless it says
 * otherwise; optional ones may be NULL. */
struct el_loop_ops {
	/* The model's loop and connection structs, whose first members are
	 * the struct el_loop and the struct el_conn. */
	size_t loop_size, conn_size;
	/* Sets the mechanism up, on the thread that will run the loop (an
	 * io_uring with a single issuer belongs to the thread that made
	 * it). Returns 0, or -errno; finish is then not called. */
	int (*init)(struct el_loop *l);
	/* Undoes init, after the drain. */
	void (*finish)(struct el_loop *l);
	/* Waits for events until deadline_ms (CLOCK_MONOTONIC, -1: none) or
	 * the stop, and hands every event to the core: el_loop_accept or
	 * el_loop_accepted for the listener, el_loop_turn (readiness) for a
	 * connection, el_loop_take_inbox for EL_EV_INBOX. */
	void (*wait)(struct el_loop *l, int64_t deadline_ms);
	/* Watches (on) or stops watching (off) the listener. */
	void (*listen)(struct el_loop *l, bool on);
	/* c was opened on this loop: watch it for input. Returns 0, or
	 * -errno (the core then ends it). */
	int (*add)(struct el_loop *l, struct el_conn *c);
	/* Readiness: after a turn, c waits for want (EL_CONN_WANT_*). */
	void (*arm)(struct el_loop *l, struct el_conn *c, int want);
	/* Optional: c ends; forget it (the core closes its fd after).
	 * Returns true when c may be freed now, false when operations in
	 * flight still use it: the model calls el_loop_settle once none is
	 * left. */
	bool (*release)(struct el_loop *l, struct el_conn *c);
	/* Optional: true while c may not be ended from the loop's thread (a
	 * threadpool's worker holds it); its idle expiry then waits. */
	bool (*busy)(struct el_loop *l, struct el_conn *c);
	/* Optional: wakes loop to, on another thread, for its inbox. Needed
	 * by a model that runs several loops and has no deal. */
	void (*wake)(struct el_loop *to);
	/* Optional: hands fd to loop to by the model's own means (io_uring's
	 * messages); true when it went, false to keep fd here. */
	bool (*deal)(struct el_loop *from, struct el_loop *to, int fd);
	/* Optional: the stop, before the drain: ends what is in flight, by
	 * deadline_ms (uring cancels its operations and waits for them). */
	void (*quiesce)(struct el_loop *l, int64_t deadline_ms);
	/* Optional: on stop, before the core's el_conn_stop: writes what the
	 * mechanism took from c and has not sent, by deadline_ms. */
	void (*flush)(struct el_loop *l, struct el_conn *c, int64_t deadline_ms);
};

/* The members every mechanism has, by the names a model file gives them
 * (init, finish, wait_events, listen_on, add), its loop and connection
 * structs named: a model's ops are this and its optional members,
 *   static const struct el_loop_ops poll_ops = {
 *   	EL_LOOP_OPS(struct ploop, struct pconn), .arm = arm, .release = release};
 */
#define EL_LOOP_OPS(loop_type, conn_type)                                                                              \
	.loop_size = sizeof(loop_type), .conn_size = sizeof(conn_type), .init = init, .finish = finish,                 \
	.wait = wait_events, .listen = listen_on, .add = add

struct el_loop {
	struct el_srv *srv;
	const struct el_loop_ops *ops;
	struct el_loop_group *group;
	int index;                    /* in its group: its counts, its CPU */
	const void *arg;              /* el_loop_group_run's */
	pthread_t thread;
	struct el_conn_lru conns;     /* open, least recently active first */
	struct el_conn_lru ended;     /* ended, waiting for el_loop_settle */
	int64_t accept_resume_ms;     /* 0, or when accepting resumes after EMFILE */
	int64_t expiry_retry_ms;      /* 0, or when a busy connection's expiry is tried again */
	_Atomic bool stopping;        /* the loop ends after this wait; read by dealers */
	int err;                      /* init's result */
	/* NULL, or a lock the core holds while it changes conns and calls
	 * arm: another thread turns this loop's connections (threadpool). */
	pthread_mutex_t *guard;
	/* Connections another loop dealt to this one: their fds. */
	pthread_mutex_t inbox_lock;
	int *inbox;
	size_t inbox_len, inbox_cap;
};

/* Runs n loops of ops until stop: loop 0 on the calling thread, the others
 * on threads of their own, loop i pinned to the i-th CPU the server may
 * use; each loop's init on its thread, then, once every loop is set up,
 * all listen at once (a loop that accepted while the next was starting
 * would deal among those started so far). A loop that cannot start fails
 * the server: it is not the server asked for. Then the drain, finish, and
 * the per-loop counts' report. arg is the model's own setting, the same
 * for every loop (el_loop.arg). Returns 0, or 1 after saying why. */
int el_loop_group_run(struct el_srv *srv, const struct el_loop_ops *ops, int n, const void *arg);

/* The loops of l's group, and loop i of them. */
int el_loop_group_size(const struct el_loop *l);
struct el_loop *el_loop_group_at(const struct el_loop *l, int i);

/* Readiness: the listener is ready. Accepts every queued connection,
 * deals each to its loop; after EMFILE and the like, pauses accepting
 * for accept.c's pause (listen off, then on again). */
void el_loop_accept(struct el_loop *l);

/* Completion: one accept's result, an fd or -errno. Deals the fd; after
 * EMFILE and the like pauses accepting; other errors are a client that
 * went away or a cancelled accept, and change nothing. */
void el_loop_accepted(struct el_loop *l, int res);

/* Takes connection fd into loop l: counts it against --max-conns (else
 * "! busy"), sets it up non-blocking, lists it and hands it to ops->add.
 * Returns it, or NULL when it did not open (fd closed; why is logged). */
struct el_conn *el_loop_open(struct el_loop *l, int fd);

/* Opens every connection another loop dealt to l. */
void el_loop_take_inbox(struct el_loop *l);

/* Readiness: c is ready. Gives it a turn (el_conn_pump), then ends it or
 * arms it for what it wants, and moves it to the active end when bytes
 * moved. Safe from a worker thread when the loop has a guard. */
void el_loop_turn(struct el_loop *l, struct el_conn *c);

/* Completion: c has had a turn of the model's own; active_before is its
 * last_active_ms before it: moves it to the active end when bytes moved. */
void el_loop_touched(struct el_loop *l, struct el_conn *c, int64_t active_before);

/* Ends c: unlists it, uncounts it, and (unless ops->release says its
 * operations are still in flight) logs "# close" with the reason, closes
 * and frees it. Ending an ended connection does nothing. */
void el_loop_end(struct el_loop *l, struct el_conn *c, enum el_conn_end end, int err);

/* Frees an ended connection whose release said wait, now that nothing of
 * it is in flight. */
void el_loop_settle(struct el_loop *l, struct el_conn *c);

/* A wait's timeout in ms until deadline_ms (CLOCK_MONOTONIC; -1: none),
 * as epoll_wait and poll take it: -1, or 0 when it has passed. */
int el_loop_timeout(int64_t deadline_ms);

/* Asks loop l to end after its current wait (a model's fatal error). */
void el_loop_stop(struct el_loop *l);

#endif
