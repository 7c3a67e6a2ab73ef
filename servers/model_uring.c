/* The uring model: --workers rings, each a thread with its own io_uring
 * and its own connections, served by the connection core.
 *
 * - Accepting: each ring keeps a multishot accept on the shared listening
 *   socket (one submission, a completion per connection); where the kernel
 *   has no multishot accept (-EINVAL) it falls back to one accept at a time.
 *   EMFILE and the like end the accept: a 100 ms timeout re-arms it.
 * - Placing: the ring that accepted deals the connection to the ring of
 *   the CPU that takes its packets (ring i runs on the i-th CPU the server may use): see deal.
 * - Receiving: one receive in flight per connection, waiting for data
 *   before it tries (IORING_RECVSEND_POLL_FIRST), into a provided buffer
 *   ring shared by the ring's connections where the kernel has buffer rings
 *   (5.19), else into the connection's own buffer. One at a time, not
 *   multishot, so that a connection with 1 MiB of unsent replies simply
 *   gets no new receive until its output drains.
 * - Sending: one send in flight per connection; a short send is resumed
 *   from where it stopped.
 * - A full submission queue is submitted and the slot taken again (the
 *   well-known io_uring echo server dereferences NULL there).
 * - Ending a connection with operations in flight: shutdown(2) makes them
 *   complete at once; the connection is freed when the last one has.
 * - Stopping: every operation is cancelled, what arrives meanwhile is
 *   still answered, then the core's stop path flushes and closes.
 *
 * Test hooks (conformance suite): ECHOLAB_URING_ENTRIES sets the
 * submission queue size (a tiny queue runs the full-queue path all the
 * time); ECHOLAB_URING_NO_BUFRING=1 takes the path of kernels without
 * buffer rings; ECHOLAB_FAULTS makes receives, sends and accepts fail at
 * random (uring_faults.h), as the fault shim does libc's calls. */
#include <errno.h>
#include <liburing.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif

#include "conn.h"
#include "io.h"
#include "models.h"
#include "uring_faults.h"

/* Operations, in the low bits of user_data (the pointer above them is
 * 8-aligned). */
enum uop { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_STOP, OP_PAUSE, OP_CANCEL, OP_DEALT };
#define OP_MASK 7u

/* The provided buffers of one ring: enough for a burst of completions of
 * many connections, each buffer one core read. */
#define BUF_GROUP 1
#define BUF_COUNT 512

struct uconn {
	struct el_conn c; /* first: the core allocates the struct */
	unsigned inflight; /* operations whose completion is still to come */
	/* The bytes of the send in flight, taken from the core, which must
	 * not move until it completes: sbuf[soff .. slen). */
	uint8_t *sbuf;
	size_t scap, soff, slen;
	bool recv_armed, send_armed;
	/* ECHOLAB_FAULTS: the error the no-op in flight for a receive or
	 * send stands for; 0 when the operation is a real one. */
	long recv_planted, send_planted;
	bool closing;
	enum el_conn_end end;
	int err;
};

/* The rings start serving together, once every one is set up: a ring
 * that accepted first could take the fds another still needs. */
struct ustart {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int ready, total; /* total: 0 until every thread was started */
	bool failed;
	struct uloop *loops; /* [total], every ring set up once serving starts */
};

struct uloop {
	struct el_srv *srv;
	int index; /* in the start's loops; pinned to the index-th allowed CPU */
	struct ustart *start;
	pthread_t thread;
	struct io_uring ring;
	unsigned entries;
	struct io_uring_buf_ring *br; /* NULL: receive into each connection's buffer */
	uint8_t *bufs;
	struct el_conn_lru lru;   /* every open connection of this ring */
	struct el_conn_lru dying; /* ended, waiting for operations in flight */
	unsigned inflight;      /* operations of any kind still to complete */
	bool accept_armed, multishot, paused, stopping;
	struct __kernel_timespec pause_ts;
	int err; /* set by the thread when its ring could not start */
	int evfd; /* -1, or an eventfd the ring signals: see ring_init */
	bool no_deal; /* the kernel has no IORING_OP_MSG_RING: keep what it accepts */
	unsigned next_deal; /* the round-robin deal where the CPU is unknown */
	/* ECHOLAB_FAULTS (uring_faults.h): on, this ring's random state, and
	 * the error an accept's no-op in flight stands for. */
	bool faults;
	uint64_t rng;
	long accept_planted;
};

static void ring_exit(struct uloop *l)
{
	io_uring_queue_exit(&l->ring);
	if (l->evfd >= 0)
		close(l->evfd);
	l->evfd = -1;
}

static void *tag(void *ptr, enum uop op)
{
	return (void *)((uintptr_t)ptr | op);
}

/* A submission slot; a full queue is handed to the kernel first. */
static struct io_uring_sqe *sqe_get(struct uloop *l)
{
	struct io_uring_sqe *sqe;
	while (!(sqe = io_uring_get_sqe(&l->ring))) {
		int rc = io_uring_submit(&l->ring);
		/* EBUSY/EAGAIN: the kernel wants completions reaped first; the
		 * queued entries stay queued, and the loop reaps soon. Waiting
		 * for one completion here makes room without losing any. */
		if (rc == -EBUSY || rc == -EAGAIN) {
			struct io_uring_cqe *cqe;
			io_uring_wait_cqe(&l->ring, &cqe);
		}
	}
	l->inflight++;
	return sqe;
}

static void arm_accept(struct uloop *l)
{
	if (l->accept_armed || l->paused || l->stopping)
		return;
	struct io_uring_sqe *sqe = sqe_get(l);
	long f = l->faults ? el_uf_accept(&l->rng) : 0;
	if (f < 0) {
		io_uring_prep_nop(sqe);
		l->accept_planted = f;
	} else if (l->multishot)
		io_uring_prep_multishot_accept(sqe, l->srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, l->srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, tag(NULL, OP_ACCEPT));
	l->accept_armed = true;
}

static void arm_recv(struct uloop *l, struct uconn *u)
{
	struct io_uring_sqe *sqe = sqe_get(l);
	long f = l->faults ? el_uf_recv(&l->rng, EL_CONN_READ_SIZE) : 0;
	size_t len = f > 0 ? (size_t)f : EL_CONN_READ_SIZE;
	if (f < 0) {
		io_uring_prep_nop(sqe);
		u->recv_planted = f;
	} else if (l->br) {
		io_uring_prep_recv(sqe, u->c.fd, NULL, (unsigned)len, 0);
		/* The client answers a reply only after it came: wait for data
		 * first rather than try a receive that fails and then wait
		 * (5.19, as buffer rings). */
		sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BUF_GROUP;
	} else {
		io_uring_prep_recv(sqe, u->c.fd, u->c.in, len, 0);
	}
	io_uring_sqe_set_data(sqe, tag(u, OP_RECV));
	u->recv_armed = true;
	u->inflight++;
}

/* Bytes taken for sending and not yet sent. */
static size_t unsent_taken(const struct uconn *u)
{
	return u->slen - u->soff;
}

static void arm_send(struct uloop *l, struct uconn *u)
{
	if (unsent_taken(u) == 0) {
		size_t n = el_conn_take_output(&u->c, &u->sbuf, &u->scap, &u->soff);
		u->slen = u->soff + n;
	}
	struct io_uring_sqe *sqe = sqe_get(l);
	long f = l->faults ? el_uf_send(&l->rng, unsent_taken(u)) : 0;
	if (f < 0) {
		io_uring_prep_nop(sqe);
		u->send_planted = f;
	} else {
		io_uring_prep_send(sqe, u->c.fd, u->sbuf + u->soff, f > 0 ? (size_t)f : unsent_taken(u), MSG_NOSIGNAL);
	}
	io_uring_sqe_set_data(sqe, tag(u, OP_SEND));
	u->send_armed = true;
	u->inflight++;
}

static void conn_free(struct uloop *l, struct uconn *u)
{
	el_conn_lru_remove(&l->dying, &u->c);
	el_conn_finish(&u->c, u->end, u->err);
	free(u->sbuf);
	free(u);
	el_srv_conn_release(l->srv);
	el_srv_loop_left(l->srv, l->index);
}

/* Marks a connection ended; conn_settle frees it once none of its
 * operations is in flight, which shutdown(2) hastens. */
static void conn_end(struct uloop *l, struct uconn *u, enum el_conn_end end, int err)
{
	if (u->closing)
		return;
	u->closing = true;
	u->end = end;
	u->err = err;
	el_conn_lru_remove(&l->lru, &u->c);
	el_conn_lru_push(&l->dying, &u->c);
	if (u->inflight > 0)
		shutdown(u->c.fd, SHUT_RDWR);
}

/* Frees an ended connection with nothing in flight. Returns true if so. */
static bool conn_settle(struct uloop *l, struct uconn *u)
{
	if (!u->closing || u->inflight > 0)
		return false;
	conn_free(l, u);
	return true;
}

/* Decides what the connection waits for next. */
static void conn_next(struct uloop *l, struct uconn *u)
{
	if (u->closing)
		return;
	if (u->c.failed) {
		conn_end(l, u, EL_CONN_END_ERROR, -ENOMEM);
		return;
	}
	if ((unsent_taken(u) > 0 || el_conn_pending(&u->c) > 0) && !u->send_armed)
		arm_send(l, u);
	if (u->c.eof) {
		/* Half-closed by the client: done once every reply is sent. */
		if (!u->send_armed)
			conn_end(l, u, EL_CONN_END_EOF, 0);
		return;
	}
	/* Kept input means the output is full: no receive until it drains. */
	if (!u->recv_armed && u->c.in_off == u->c.in_len && !l->stopping)
		arm_recv(l, u);
}

/* Takes a new connection into this ring (or closes it when stopping). */
static void adopt(struct uloop *l, int fd)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	if (l->stopping || getpeername(fd, (struct sockaddr *)&peer, &plen) < 0) {
		close(fd);
	} else if (!el_srv_conn_acquire(l->srv)) {
		el_srv_reject_busy(l->srv, fd, (struct sockaddr *)&peer);
	} else {
		struct uconn *u = calloc(1, sizeof(*u));
		/* Without buffer rings a connection receives into c.in, which
		 * the core also uses for kept input: zeroed, since memcheck
		 * cannot see the kernel write it. */
		uint8_t *in = l->br ? NULL : calloc(1, EL_CONN_READ_SIZE);
		bool room = u && (l->br || in);
		if (!room)
			close(fd); /* el_conn_init closes it when it fails */
		if (!room || el_conn_init(&u->c, l->srv, fd, (struct sockaddr *)&peer) < 0) {
			free(u);
			free(in);
			el_srv_conn_release(l->srv);
		} else {
			u->c.in = in;
			el_conn_lru_push(&l->lru, &u->c);
			el_srv_loop_joined(l->srv, l->index);
			arm_recv(l, u);
			return;
		}
	}
}

/* Hands a new connection to the ring of the CPU that took the client's
 * packets (SO_INCOMING_CPU), round-robin where the kernel does not say, as
 * the epoll model does: a multishot accept takes a burst of connections on
 * whichever ring it completes, and one ring then served all 100 of 100
 * while the other CPU idled. The fd travels as an IORING_OP_MSG_RING
 * message: the other ring sees a completion whose result is the fd; this
 * ring's own completion says whether it arrived, and if not (the other
 * ring is gone, or a kernel before 5.18) this ring keeps the connection. */
static void deal(struct uloop *l, int fd)
{
	struct ustart *st = l->start;
	unsigned n = (unsigned)st->total;
	struct uloop *to = l;
	if (n > 1 && !l->no_deal && !l->stopping)
		to = &st->loops[el_srv_loop_for(l->srv, fd, n, &l->next_deal)];
	if (to == l) {
		adopt(l, fd);
		return;
	}
	struct io_uring_sqe *sqe = sqe_get(l);
	io_uring_prep_msg_ring(sqe, to->ring.ring_fd, (unsigned)fd, (uint64_t)OP_DEALT, 0);
	io_uring_sqe_set_data64(sqe, ((uint64_t)fd + 1) << 16 | (uint64_t)(to - st->loops) << 3 | OP_DEALT);
}

/* A completion of OP_DEALT: a connection another ring dealt to this one
 * (no fd in user_data; res is the fd), or the outcome of this ring's own
 * deal (user_data carries the fd). */
static void on_dealt(struct uloop *l, uint64_t data, int res)
{
	if (data >> 3 == 0) {
		adopt(l, res);
		return;
	}
	int fd = (int)((data >> 16) - 1);
	if (res < 0) {
		if (res == -EINVAL || res == -EOPNOTSUPP)
			l->no_deal = true;
		adopt(l, fd);
	}
}

static void on_accept(struct uloop *l, int res, unsigned flags)
{
	if (!(flags & IORING_CQE_F_MORE))
		l->accept_armed = false;
	if (res < 0) {
		switch (res) {
		case -EINVAL:
			if (l->multishot) {
				l->multishot = false; /* a kernel before 5.19 */
				break;
			}
			fprintf(stderr, "echolab-server: accept: %s\n", strerror(-res));
			l->stopping = true;
			break;
		case -EMFILE:
		case -ENFILE:
		case -ENOBUFS:
		case -ENOMEM: {
			el_srv_logf(l->srv, "accept: %s (pausing %d ms)", strerror(-res), EL_SRV_ACCEPT_PAUSE_MS);
			l->paused = true;
			l->pause_ts = (struct __kernel_timespec){.tv_nsec = EL_SRV_ACCEPT_PAUSE_MS * 1000000};
			struct io_uring_sqe *sqe = sqe_get(l);
			io_uring_prep_timeout(sqe, &l->pause_ts, 0, 0);
			io_uring_sqe_set_data(sqe, tag(NULL, OP_PAUSE));
			break;
		}
		default: /* the client went away first, or ECANCELED on stop */
			break;
		}
		arm_accept(l);
		return;
	}
	deal(l, res);
	arm_accept(l);
}

/* The provided buffer a receive's completion flags name. */
static uint8_t *buf_of(const struct uloop *l, unsigned flags)
{
	return l->bufs + (size_t)(flags >> IORING_CQE_BUFFER_SHIFT) * EL_CONN_READ_SIZE;
}

static void recycle(struct uloop *l, unsigned flags)
{
	if (!l->br || !(flags & IORING_CQE_F_BUFFER))
		return;
	unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
	io_uring_buf_ring_add(l->br, buf_of(l, flags), EL_CONN_READ_SIZE, (unsigned short)bid,
			      io_uring_buf_ring_mask(BUF_COUNT), 0);
	io_uring_buf_ring_advance(l->br, 1);
}

static void on_recv(struct uloop *l, struct uconn *u, int res, unsigned flags)
{
	u->recv_armed = false;
	if (res > 0 && !u->closing) {
		el_conn_stamp(&u->c);
		if (l->br) {
			el_conn_input_hold(&u->c, buf_of(l, flags), (size_t)res);
		} else {
			u->c.in_off = 0;
			u->c.in_len = (size_t)res;
			el_conn_input_resume(&u->c);
		}
	}
	recycle(l, flags);
	if (u->closing)
		return;
	if (res == 0)
		el_conn_input_eof(&u->c);
	else if (res < 0 && res != -ENOBUFS && res != -EINTR && res != -EAGAIN && res != -ECANCELED) {
		conn_end(l, u, el_conn_end_of_errno(res), res);
		return;
	}
	conn_next(l, u);
}

static void on_send(struct uloop *l, struct uconn *u, int res)
{
	u->send_armed = false;
	if (u->closing)
		return;
	if (res < 0 && res != -EINTR && res != -EAGAIN && res != -ECANCELED) {
		conn_end(l, u, el_conn_end_of_errno(res), res);
		return;
	}
	if (res > 0) {
		u->soff += (size_t)res;
		el_conn_held_sent(&u->c, (size_t)res);
	}
	el_conn_input_resume(&u->c);
	conn_next(l, u);
}

static void on_cqe(struct uloop *l, struct io_uring_cqe *cqe)
{
	uintptr_t data = (uintptr_t)io_uring_cqe_get_data(cqe);
	enum uop op = (enum uop)(data & OP_MASK);
	struct uconn *u = (struct uconn *)(data & ~(uintptr_t)OP_MASK);
	/* A connection dealt by another ring is no operation of this one. */
	bool received = op == OP_DEALT && data >> 3 == 0;
	if (!(cqe->flags & IORING_CQE_F_MORE) && !received)
		l->inflight--;
	switch (op) {
	case OP_DEALT:
		on_dealt(l, data, cqe->res);
		return;
	case OP_ACCEPT:
		if (l->accept_planted) { /* a no-op: the fault it stands for */
			on_accept(l, (int)l->accept_planted, 0);
			l->accept_planted = 0;
			return;
		}
		on_accept(l, cqe->res, cqe->flags);
		return;
	case OP_STOP:
		l->stopping = true;
		return;
	case OP_PAUSE:
		l->paused = false;
		arm_accept(l);
		return;
	case OP_CANCEL:
		return;
	case OP_RECV:
	case OP_SEND:
		break;
	}
	u->inflight--;
	int64_t active = u->c.last_active_ms;
	long *planted = op == OP_RECV ? &u->recv_planted : &u->send_planted;
	int res = *planted ? (int)*planted : cqe->res; /* a no-op stands for its fault */
	*planted = 0;
	if (op == OP_RECV)
		on_recv(l, u, res, cqe->flags);
	else
		on_send(l, u, res);
	if (!conn_settle(l, u) && !u->closing)
		el_conn_lru_touch(&l->lru, &u->c, active);
}

/* Handles every completion that is there. */
static void reap(struct uloop *l)
{
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&l->ring, &cqe) == 0) {
		/* Copied out first: handling may submit, and a submit may wait
		 * for this very slot to be seen. */
		struct io_uring_cqe copy = *cqe;
		io_uring_cqe_seen(&l->ring, cqe);
		on_cqe(l, &copy);
	}
}

/* Waits for completions until deadline_ms (-1: no deadline). */
static void wait_for(struct uloop *l, int64_t deadline_ms)
{
	struct io_uring_cqe *cqe;
	if (l->evfd >= 0) {
		io_uring_submit(&l->ring);
		if (io_uring_cq_ready(&l->ring) > 0)
			return;
		/* A completion posted after the check has signalled the
		 * eventfd already: poll returns at once. */
		struct pollfd pfd = {.fd = l->evfd, .events = POLLIN};
		if (el_io_poll(&pfd, 1, deadline_ms, false) > 0) {
			uint64_t v;
			ssize_t r = read(l->evfd, &v, sizeof(v));
			(void)r;
		}
		return;
	}
	if (deadline_ms < 0) {
		io_uring_submit_and_wait(&l->ring, 1);
		return;
	}
	int64_t left = deadline_ms - el_io_now_ms();
	if (left < 0)
		left = 0;
	struct __kernel_timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
	io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
}

/* The stop: cancels everything, answers what still arrives, then hands
 * every connection to the core's stop path (flush, FIN, close). */
static void loop_stop(struct uloop *l)
{
	/* Before 5.19 cancelling by ANY fails (EINVAL): the operations then
	 * run out the second and end with the ring. */
	int64_t deadline = el_io_now_ms() + EL_SRV_STOP_CONN_MS;
	struct io_uring_sqe *sqe = sqe_get(l);
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data(sqe, tag(NULL, OP_CANCEL));
	while (l->inflight > 0 && el_io_now_ms() < deadline) {
		wait_for(l, deadline);
		reap(l);
	}
	/* Whatever is still in flight ends with the ring: no kernel write into
	 * a buffer freed below. */
	ring_exit(l);
	while (l->dying.oldest)
		conn_free(l, (struct uconn *)l->dying.oldest);
	while (l->lru.oldest) {
		struct uconn *u = (struct uconn *)l->lru.oldest;
		el_conn_lru_remove(&l->lru, &u->c);
		el_io_set_nonblock(u->c.fd, true);
		/* What a cancelled send had taken goes first. */
		if (unsent_taken(u) > 0 &&
		    el_io_write_all(u->c.fd, u->sbuf + u->soff, unsent_taken(u), deadline) == 0)
			el_conn_held_sent(&u->c, unsent_taken(u));
		el_conn_stop(&u->c, deadline);
		free(u->sbuf);
		free(u);
		el_srv_conn_release(l->srv);
		el_srv_loop_left(l->srv, l->index);
	}
}

static int buffers_init(struct uloop *l)
{
	const char *no = getenv("ECHOLAB_URING_NO_BUFRING");
	if (no && strcmp(no, "1") == 0)
		return 0;
	size_t ring_size = BUF_COUNT * sizeof(struct io_uring_buf);
	void *br;
	if (posix_memalign(&br, 4096, ring_size))
		return -ENOMEM;
	memset(br, 0, ring_size);
	/* Zeroed: the kernel's writes into them are invisible to memcheck. */
	l->bufs = calloc(BUF_COUNT, EL_CONN_READ_SIZE);
	if (!l->bufs) {
		free(br);
		return -ENOMEM;
	}
	struct io_uring_buf_reg reg = {
		.ring_addr = (uintptr_t)br,
		.ring_entries = BUF_COUNT,
		.bgid = BUF_GROUP,
	};
	int rc = io_uring_register_buf_ring(&l->ring, &reg, 0);
	if (rc < 0) {
		/* No buffer rings (before 5.19): each connection its own. */
		free(br);
		free(l->bufs);
		l->bufs = NULL;
		return 0;
	}
	l->br = br;
	io_uring_buf_ring_init(l->br);
	for (unsigned i = 0; i < BUF_COUNT; i++)
		io_uring_buf_ring_add(l->br, l->bufs + (size_t)i * EL_CONN_READ_SIZE,
				      EL_CONN_READ_SIZE, (unsigned short)i,
				      io_uring_buf_ring_mask(BUF_COUNT), (int)i);
	io_uring_buf_ring_advance(l->br, BUF_COUNT);
	return 0;
}

/* Completions: room for a receive and a send of 16k connections at once,
 * so that the completion queue does not overflow under the 10,000-client
 * load (an overflow is kept by the kernel, but costs a slow path). */
#define CQ_ENTRIES 32768

/* Sets the ring up, with the cheapest task-running mode the kernel has.
 *
 * Under valgrind (3.19), which runs one thread at a time and does not know
 * that io_uring_enter(2) can block, a thread waiting in the ring keeps
 * every other thread from running: the server hung. There the ring is a
 * plain one that signals an eventfd, and the loop waits in poll(2).
 * Returns 0 or -errno. */
static int ring_init(struct uloop *l)
{
	struct io_uring *ring = &l->ring;
	unsigned entries = l->entries;
	size_t first = 0;
	l->evfd = -1;
#ifdef RUNNING_ON_VALGRIND
	if (RUNNING_ON_VALGRIND)
		first = 2;
#endif
	static const unsigned modes[] = {
		/* 6.1: completions' task work runs only when the ring is entered
		 * to wait, which the loop does anyway: no interrupting IPIs. */
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int rc = -EINVAL;
	for (size_t i = first; i < sizeof(modes) / sizeof(modes[0]) && rc == -EINVAL; i++) {
		struct io_uring_params p = {
			.flags = IORING_SETUP_CQSIZE | modes[i],
			.cq_entries = CQ_ENTRIES,
		};
		rc = io_uring_queue_init_params(entries, ring, &p);
	}
	/* Entering by a registered ring fd spares a file lookup at each enter
	 * (5.18; where it fails, the ring is entered by its fd). */
	if (rc == 0 && first == 0)
		io_uring_register_ring_fd(ring);
	if (rc < 0 || first == 0)
		return rc;
	l->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->evfd < 0 || io_uring_register_eventfd(ring, l->evfd) < 0) {
		rc = l->evfd < 0 ? -errno : -EINVAL;
		ring_exit(l);
	}
	return rc;
}

static void *run_loop(void *arg)
{
	struct uloop *l = arg;
	struct el_srv *srv = l->srv;
	int64_t idle = srv->cfg.idle_timeout_ms;
	/* Created by the thread that submits: a single-issuer ring belongs to
	 * the thread that made it. */
	l->err = ring_init(l);
	if (l->err == 0) {
		l->err = buffers_init(l);
		if (l->err < 0)
			ring_exit(l);
	}
	struct ustart *st = l->start;
	pthread_mutex_lock(&st->lock);
	st->ready++;
	st->failed |= l->err < 0;
	pthread_cond_broadcast(&st->cond);
	while (!st->failed && (st->total == 0 || st->ready < st->total))
		pthread_cond_wait(&st->cond, &st->lock);
	bool failed = st->failed;
	pthread_mutex_unlock(&st->lock);
	if (failed) {
		/* A server with a ring missing is not the server asked for;
		 * the main thread says why. */
		if (l->err == 0) {
			ring_exit(l);
			free(l->br);
			free(l->bufs);
		}
		return NULL;
	}
	l->multishot = true;
	struct io_uring_sqe *sqe = sqe_get(l);
	io_uring_prep_poll_add(sqe, srv->stop_fd, POLLIN);
	io_uring_sqe_set_data(sqe, tag(NULL, OP_STOP));
	arm_accept(l);

	while (!l->stopping && !el_srv_should_stop(srv)) {
		wait_for(l, el_conn_lru_deadline(&l->lru, idle));
		reap(l);
		int64_t now = el_io_now_ms();
		while (idle > 0 && l->lru.oldest && now - l->lru.oldest->last_active_ms >= idle) {
			struct uconn *u = (struct uconn *)l->lru.oldest;
			conn_end(l, u, EL_CONN_END_IDLE, 0);
			conn_settle(l, u);
		}
	}
	l->stopping = true;
	loop_stop(l);
	free(l->br);
	free(l->bufs);
	return NULL;
}

int el_model_uring_probe(char *why, size_t len)
{
	struct io_uring ring;
	int rc = io_uring_queue_init(2, &ring, 0);
	if (rc < 0) {
		snprintf(why, len, "io_uring_setup: %s", strerror(-rc));
		return rc;
	}
	io_uring_queue_exit(&ring);
	return 0;
}

int el_model_uring_run(struct el_srv *srv)
{
	unsigned entries = 1024;
	const char *e = getenv("ECHOLAB_URING_ENTRIES");
	if (e && atoi(e) > 0)
		entries = (unsigned)atoi(e);
	/* The listener was made non-blocking for the poll-based models; a
	 * ring waits for connections itself. */
	el_io_set_nonblock(srv->listen_fd, false);

	int n = srv->cfg.workers;
	struct uloop *loops = calloc((size_t)n, sizeof(*loops));
	if (!loops) {
		fprintf(stderr, "echolab-server: out of memory\n");
		return 1;
	}
	struct ustart st = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
			    .loops = loops};
	/* A test hook that production must not run unaware of. */
	bool faults = el_uf_init();
	if (faults) {
		fprintf(stderr, "echolab-server: WARNING: ECHOLAB_FAULTS is set: the uring model's receives, sends "
				"and accepts fail at random on purpose (a test hook; unset it)\n");
		fflush(stderr);
	}
	int started = 0, rc = 0;
	el_srv_loops_start(srv, n);
	for (int i = 0; i < n; i++) {
		struct uloop *l = &loops[started];
		l->srv = srv;
		l->index = started;
		l->start = &st;
		l->entries = entries;
		l->faults = faults;
		l->rng = el_uf_rng((unsigned)i);
		int err = el_srv_thread(srv, &l->thread, NULL, run_loop, l);
		if (err) {
			el_srv_logf(srv, "uring: cannot start a ring: %s", strerror(-err));
			continue;
		}
		/* Ring i on CPU i, where deal sends the connections whose packets
		 * CPU i takes. */
		el_srv_loop_pin(srv, l->thread, started);
		started++;
	}
	pthread_mutex_lock(&st.lock);
	st.total = started;
	if (started == 0)
		st.failed = true;
	pthread_cond_broadcast(&st.cond);
	pthread_mutex_unlock(&st.lock);
	if (started == 0) {
		fprintf(stderr, "echolab-server: cannot start any ring\n");
		rc = 1;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(loops[i].thread, NULL);
		if (loops[i].err < 0) {
			if (rc == 0)
				fprintf(stderr, "echolab-server: uring: cannot set up a ring: %s\n",
					strerror(-loops[i].err));
			rc = 1;
		}
	}
	el_srv_loops_report(srv);
	free(loops);
	return rc;
}
