/* The load engine's inside (load.h is its outside): its state, shared by
 * the files that hold one concern each: load.c the run (workers, the
 * gate, the clock, the merged result), load_conn.c a connection's states
 * (connect, write, read, replies, errors, timeouts), load_sched.c the
 * open loop's schedule (fixed phases and bursts, the Poisson heap) and
 * load_worker.c a worker's event loop (readiness, or paced by its sends'
 * clock). Not for use outside clients/. */
#ifndef EL_LOAD_ENGINE_H
#define EL_LOAD_ENGINE_H

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "load.h"
#include "stats.h"

/* How long a connection waits before it connects again after an error. */
#define RECONNECT_US 100000
/* Timeouts and the end of the run are checked this often. */
#define TICK_US 50000
#define READ_SIZE 65536
/* Open loop: a wake-up serves every send due up to this share of the gap
 * after the first (lateness within a tenth of the gap is on time; the
 * other half is the scheduler's), and at most this long after it. */
#define PACE_SHARE 20
#define PACE_MAX_US 50
/* Open loop: the early sends a connection remembers, for their RTT; no
 * send goes early while this many of its connection's are in flight. */
#define EARLY_RING 4
#define RTT_LOG_BUF 65536

enum conn_state { C_WAIT, C_CONNECTING, C_UP, C_DONE };

struct lconn {
	int fd;
	long idx;            /* among all connections */
	enum conn_state state;
	int64_t at_us;       /* C_WAIT: when to connect; C_CONNECTING: since */
	int64_t phase_us;    /* open loop, fixed: offset of its first message */
	/* Open loop, Poisson: two cursors over the connection's one stream of
	 * gaps, the sender's at message sched, the receiver's at message recvd
	 * (each its own copy of the stream's state), their due times as
	 * offsets from start_us. */
	uint64_t rng_send, rng_recv;
	int64_t t_send, t_recv;
	long heap_pos;       /* Poisson: its place in the worker's heap */
	int64_t last_sent_us; /* open loop: the previous send's time, for gaps */
	int64_t connect_us;  /* when its connect(2) was called */
	long in_session;     /* replies of this connection (sessions) */
	bool first_pending;  /* the session's first reply is still to come */
	uint64_t sched;      /* messages due so far (open loop) or sent */
	uint64_t written;    /* bytes of messages written since connect */
	uint64_t base;       /* messages due before a reconnect: dropped */
	bool was_up;         /* connected before (this is a reconnect) */
	bool probing;        /* its gate message is in flight */
	bool answered;       /* the server has answered it once */
	bool settled;        /* answered or failed once (the gate waits for it) */
	uint64_t recvd;      /* replies received (global sequence) */
	int64_t sent_us;     /* closed loop: when the message in flight went */
	unsigned local_port;
	/* Open loop: the last sends that went early, message seq + 1 and how
	 * early (us): their RTT runs from the send, not the due time. */
	struct {
		uint32_t seq1;
		int32_t by_us;
	} early[EARLY_RING];
	bool want_out;       /* EPOLLOUT armed */
	size_t part_len;     /* bytes of an unterminated reply kept */
	uint8_t *part;
};

struct worker {
	struct el_load *l;
	struct el_load_shard *shard;
	struct lconn *conns;
	long n;
	int ep;
	size_t cursor;       /* open loop, fixed: the connection due next */
	struct lconn **heap; /* open loop, Poisson: by next due time */
	uint64_t rng;        /* for the sample of gaps */
	bool restart;        /* a session ended: connect again after the events */
	uint8_t *rbuf;
	char *logbuf;
	size_t loglen;
	pthread_t thread;
	bool waiting;        /* behind the gate (el_load_run) */
	/* Open loop past the gate: the worker wakes on its sends' clock, not
	 * on each reply, and times a reply by its arrival (the kernel's
	 * receive timestamp, CLOCK_REALTIME) less rt_off_us. */
	bool paced;
	int64_t rt_off_us;
	long connecting;     /* connections in C_CONNECTING: not paced then */
};

/* The measurement's clock, set when the gate opens; in shared memory so
 * that spawned workers read it. */
struct gate {
	int64_t start_us, window_us, end_us;
};

struct el_load {
	struct el_load_cfg cfg;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint8_t *rep;        /* the message line repeated */
	size_t line_len, rep_len;
	size_t part_max;     /* longest reply line accepted */
	int64_t start_us, window_us, end_us;
	double window_unix, start_late_s;
	int64_t interval_us; /* open loop */
	int64_t early_us;    /* open loop: how early a send may go (fixed) */
	double mean_gap_us;  /* open loop: 1e6 / rate */
	uint64_t burst;      /* open loop, fixed: messages due together */
	struct el_load_shard *shards;
	size_t nshards;
	bool shared;         /* shards in shared memory (spawn, processes) */
	pid_t *pids;         /* those processes, for a stop to reach them */
	struct worker *workers;
	bool gated;          /* starts behind the gate */
	struct gate *gate;
	int gate_fd;         /* an eventfd, readable once the gate is open */
	long ready;          /* connections answered when the gate opened */
};

/* Counters the progress line reads while the worker writes them. */
static inline void bump(uint64_t *c, uint64_t by)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
}

static inline uint64_t peek(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static inline bool counting_done(const struct el_load *l, const struct lconn *c)
{
	return l->cfg.count > 0 && c->recvd >= (uint64_t)l->cfg.count;
}

/* Messages this connection should have written by now. */
static inline uint64_t due(const struct el_load *l, const struct lconn *c)
{
	uint64_t d = c->sched;
	if (l->cfg.count > 0 && d > (uint64_t)l->cfg.count)
		d = (uint64_t)l->cfg.count;
	return d < c->base ? c->base : d;
}

/* Open loop: when message sched (the next to come due) and message recvd
 * (the next reply's) were due. */
static inline int64_t send_due(const struct el_load *l, const struct lconn *c)
{
	return l->start_us + (l->cfg.poisson ? c->t_send
					      : c->phase_us + (int64_t)(c->sched / l->burst * l->burst) * l->interval_us);
}

static inline int64_t recv_due(const struct el_load *l, const struct lconn *c)
{
	return l->start_us + (l->cfg.poisson ? c->t_recv
					      : c->phase_us + (int64_t)(c->recvd / l->burst * l->burst) * l->interval_us);
}

/* Open loop: when message recvd went, if before its due time, or its due
 * time: a reply's RTT runs from the earlier of the two. */
static inline int64_t recv_sent(const struct el_load *l, const struct lconn *c)
{
	int64_t at = recv_due(l, c);
	unsigned k = (unsigned)(c->recvd % EARLY_RING);
	return c->early[k].seq1 == (uint32_t)(c->recvd + 1) ? at - c->early[k].by_us : at;
}

static inline int64_t poisson_gap(const struct el_load *l, uint64_t *rng)
{
	return (int64_t)llround(el_rng_exp(rng, l->mean_gap_us));
}

/* The receiver's cursor jumps to the sender's: what was due before is
 * dropped (a reconnect, or the gate's end). */
static inline void sync_recv(struct lconn *c)
{
	c->recvd = c->sched;
	c->rng_recv = c->rng_send;
	c->t_recv = c->t_send;
}

/* A span from t0 to now counts in the window's figures. */
static inline bool in_window(const struct el_load *l, int64_t t0, int64_t now)
{
	return t0 >= l->start_us + (int64_t)(l->cfg.warmup_s * 1e6) && now <= l->end_us;
}

/* load_conn.c: a connection's states. */
void el_load_log_flush(struct worker *w);
/* Writes what is due of c's messages (open loop) or its one message
 * (closed loop, the gate's probe), as far as the socket takes it. */
void el_load_conn_write(struct worker *w, struct lconn *c, int64_t now);
/* c's load begins: at once in closed loop; in open loop at its next
 * slot, what came due while it waited for its gate reply dropped. */
void el_load_conn_begin(struct worker *w, struct lconn *c, int64_t now);
/* c's readiness (events) or its connect's completion. */
void el_load_on_event(struct worker *w, struct lconn *c, uint32_t events, int64_t now);
/* Connects what is due, checks timeouts. Returns the next time it has
 * something to do. */
int64_t el_load_tick(struct worker *w, int64_t now);

/* load_sched.c: the open loop's schedule. Marks (and writes) the sends
 * that are due at now; returns when the next one is due. */
int64_t el_load_schedule(struct worker *w, int64_t now);
/* The Poisson heap, from position i down. */
void el_load_heap_down(struct worker *w, long i);

/* load_worker.c: worker i over connections [first, first + n): set up
 * (0 or -ENOMEM), run (a thread's or a process's body), finished. */
int el_load_worker_init(struct el_load *l, size_t i, long first, long n);
void *el_load_worker_run(void *arg);
void el_load_worker_finish(struct worker *w);

#endif
