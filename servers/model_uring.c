/* The uring model: --workers event loops (loop.h), each a thread with its
 * own io_uring and its own connections, served by the connection core. It
 * is the core's completion mechanism: the ring does the reads and writes,
 * and the core hears of each connection's activity and end.
 *
 * - Accepting: each ring keeps a multishot accept on the shared listening
 *   socket (one submission, a completion per connection); where the kernel
 *   has no multishot accept (-EINVAL) it falls back to one accept at a time.
 *   EMFILE and the like end the accept, and the core's pause re-arms it.
 * - Placing: the core deals the connection to the ring of the CPU that
 *   takes its packets (ring i runs on the i-th CPU the server may use); the
 *   fd travels as an io_uring message: see deal.
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
 *   complete at once; the connection is freed (el_loop_settle) when the
 *   last one has.
 * - Stopping: every operation is cancelled, what arrives meanwhile is
 *   still answered, then the core's drain flushes and closes.
 *
 * Test hooks (conformance suite): ECHOLAB_URING_ENTRIES sets the
 * submission queue size (a tiny queue runs the full-queue path all the
 * time); ECHOLAB_URING_NO_BUFRING=1 takes the path of kernels without
 * buffer rings; ECHOLAB_FAULTS makes receives, sends and accepts fail at
 * random (uring_faults.h), as the fault shim does libc's calls. */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif

#include "io.h"
#include "loop.h"
#include "models.h"
#include "uring_faults.h"

/* The provided buffers of one ring: enough for a burst of completions of
 * many connections, each buffer one core read. */
#define BUF_GROUP 1
#define BUF_COUNT 512

/* What every ring is given (el_loop.arg). */
struct uring_cfg {
	unsigned entries; /* the submission queue */
	bool faults;      /* ECHOLAB_FAULTS is on */
};

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
};

struct uloop {
	struct el_loop l; /* first: the core allocates the struct */
	struct io_uring ring;
	bool ring_up;
	struct io_uring_buf_ring *br; /* NULL: receive into each connection's buffer */
	uint8_t *bufs;
	unsigned inflight; /* operations of any kind still to complete */
	bool accept_armed, multishot, paused;
	int evfd; /* -1, or an eventfd the ring signals: see ring_init */
	bool no_deal; /* the kernel has no IORING_OP_MSG_RING: keep what it accepts */
	struct uconn *handling; /* the connection whose completion is being handled */
	/* ECHOLAB_FAULTS (uring_faults.h): on, this ring's random state, and
	 * the error an accept's no-op in flight stands for. */
	bool faults;
	uint64_t rng;
	long accept_planted;
};

static void ring_exit(struct uloop *u)
{
	if (!u->ring_up)
		return;
	io_uring_queue_exit(&u->ring);
	u->ring_up = false;
	if (u->evfd >= 0)
		close(u->evfd);
	u->evfd = -1;
}

/* A submission slot; a full queue is handed to the kernel first. */
static struct io_uring_sqe *sqe_get(struct uloop *u)
{
	struct io_uring_sqe *sqe;
	while (!(sqe = io_uring_get_sqe(&u->ring))) {
		int rc = io_uring_submit(&u->ring);
		/* EBUSY/EAGAIN: the kernel wants completions reaped first; the
		 * queued entries stay queued, and the loop reaps soon. Waiting
		 * for one completion here makes room without losing any. */
		if (rc == -EBUSY || rc == -EAGAIN) {
			struct io_uring_cqe *cqe;
			io_uring_wait_cqe(&u->ring, &cqe);
		}
	}
	u->inflight++;
	return sqe;
}

static void arm_accept(struct uloop *u)
{
	if (u->accept_armed || u->paused || u->l.stopping)
		return;
	struct io_uring_sqe *sqe = sqe_get(u);
	long f = u->faults ? el_uf_accept(&u->rng) : 0;
	int listen_fd = u->l.srv->listen_fd;
	if (f < 0) {
		io_uring_prep_nop(sqe);
		u->accept_planted = f;
	} else if (u->multishot)
		io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, el_ev_tag(EL_EV_LISTENER, 0));
	u->accept_armed = true;
}

static void arm_recv(struct uloop *u, struct uconn *uc)
{
	struct io_uring_sqe *sqe = sqe_get(u);
	long f = u->faults ? el_uf_recv(&u->rng, EL_CONN_READ_SIZE) : 0;
	size_t len = f > 0 ? (size_t)f : EL_CONN_READ_SIZE;
	if (f < 0) {
		io_uring_prep_nop(sqe);
		uc->recv_planted = f;
	} else if (u->br) {
		io_uring_prep_recv(sqe, uc->c.fd, NULL, (unsigned)len, 0);
		/* The client answers a reply only after it came: wait for data
		 * first rather than try a receive that fails and then wait
		 * (5.19, as buffer rings). */
		sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BUF_GROUP;
	} else {
		io_uring_prep_recv(sqe, uc->c.fd, uc->c.in, len, 0);
	}
	io_uring_sqe_set_data64(sqe, el_ev_tag_ptr(EL_EV_RECV, uc));
	uc->recv_armed = true;
	uc->inflight++;
}

/* Bytes taken for sending and not yet sent. */
static size_t unsent_taken(const struct uconn *uc)
{
	return uc->slen - uc->soff;
}

static void arm_send(struct uloop *u, struct uconn *uc)
{
	if (unsent_taken(uc) == 0) {
		size_t n = el_conn_take_output(&uc->c, &uc->sbuf, &uc->scap, &uc->soff);
		uc->slen = uc->soff + n;
	}
	struct io_uring_sqe *sqe = sqe_get(u);
	long f = u->faults ? el_uf_send(&u->rng, unsent_taken(uc)) : 0;
	if (f < 0) {
		io_uring_prep_nop(sqe);
		uc->send_planted = f;
	} else {
		io_uring_prep_send(sqe, uc->c.fd, uc->sbuf + uc->soff, f > 0 ? (size_t)f : unsent_taken(uc),
				   MSG_NOSIGNAL);
	}
	io_uring_sqe_set_data64(sqe, el_ev_tag_ptr(EL_EV_SEND, uc));
	uc->send_armed = true;
	uc->inflight++;
}

/* An ended connection with nothing in flight: the core frees it. */
static void settle(struct uloop *u, struct uconn *uc)
{
	free(uc->sbuf);
	uc->sbuf = NULL;
	el_loop_settle(&u->l, &uc->c);
}

/* Decides what the connection waits for next. */
static void conn_next(struct uloop *u, struct uconn *uc)
{
	struct el_conn *c = &uc->c;
	if (c->ended)
		return;
	if (c->failed) {
		el_loop_end(&u->l, c, EL_CONN_END_ERROR, -ENOMEM);
		return;
	}
	if ((unsent_taken(uc) > 0 || el_conn_pending(c) > 0) && !uc->send_armed)
		arm_send(u, uc);
	if (c->eof) {
		/* Half-closed by the client: done once every reply is sent. */
		if (!uc->send_armed)
			el_loop_end(&u->l, c, EL_CONN_END_EOF, 0);
		return;
	}
	/* Kept input means the output is full: no receive until it drains. */
	if (!uc->recv_armed && c->in_off == c->in_len && !u->l.stopping)
		arm_recv(u, uc);
}

static int add(struct el_loop *l, struct el_conn *c)
{
	struct uloop *u = (struct uloop *)l;
	/* Without buffer rings a connection receives into c.in, which the
	 * core also uses for kept input: zeroed, since memcheck cannot see
	 * the kernel write it. */
	if (!u->br && !(c->in = calloc(1, EL_CONN_READ_SIZE)))
		return -ENOMEM;
	arm_recv(u, (struct uconn *)c);
	return 0;
}

static bool release(struct el_loop *l, struct el_conn *c)
{
	struct uloop *u = (struct uloop *)l;
	struct uconn *uc = (struct uconn *)c;
	if (uc->inflight > 0) {
		shutdown(c->fd, SHUT_RDWR); /* its operations complete at once */
		return false;
	}
	if (u->handling == uc)
		return false; /* its completion's handler settles it */
	free(uc->sbuf);
	uc->sbuf = NULL;
	return true;
}

static void listen_on(struct el_loop *l, bool on)
{
	struct uloop *u = (struct uloop *)l;
	u->paused = !on;
	arm_accept(u);
}

/* Hands connection fd to loop to as an IORING_OP_MSG_RING message: to
 * sees a completion whose result is the fd; this ring's own completion
 * (EL_EV_DEALT) says whether it arrived, and if not (the other ring is
 * gone, or a kernel before 5.18) this ring keeps the connection. */
static bool deal(struct el_loop *from, struct el_loop *to, int fd)
{
	struct uloop *u = (struct uloop *)from;
	if (u->no_deal)
		return false;
	struct io_uring_sqe *sqe = sqe_get(u);
	io_uring_prep_msg_ring(sqe, ((struct uloop *)to)->ring.ring_fd, (unsigned)fd, el_ev_tag(EL_EV_INBOX, 0), 0);
	io_uring_sqe_set_data64(sqe, el_ev_tag(EL_EV_DEALT, (uint64_t)fd));
	return true;
}

static void on_dealt(struct uloop *u, int fd, int res)
{
	if (res >= 0)
		return;
	if (res == -EINVAL || res == -EOPNOTSUPP)
		u->no_deal = true;
	el_loop_open(&u->l, fd);
}

static void on_accept(struct uloop *u, int res, unsigned flags)
{
	if (!(flags & IORING_CQE_F_MORE))
		u->accept_armed = false;
	if (res == -EINVAL && u->multishot) {
		u->multishot = false; /* a kernel before 5.19 */
	} else if (res == -EINVAL) {
		fprintf(stderr, "echolab-server: accept: %s\n", strerror(-res));
		el_loop_stop(&u->l);
	} else {
		el_loop_accepted(&u->l, res);
	}
	arm_accept(u);
}

/* The provided buffer a receive's completion flags name. */
static uint8_t *buf_of(const struct uloop *u, unsigned flags)
{
	return u->bufs + (size_t)(flags >> IORING_CQE_BUFFER_SHIFT) * EL_CONN_READ_SIZE;
}

static void recycle(struct uloop *u, unsigned flags)
{
	if (!u->br || !(flags & IORING_CQE_F_BUFFER))
		return;
	unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
	io_uring_buf_ring_add(u->br, buf_of(u, flags), EL_CONN_READ_SIZE, (unsigned short)bid,
			      io_uring_buf_ring_mask(BUF_COUNT), 0);
	io_uring_buf_ring_advance(u->br, 1);
}

static void on_recv(struct uloop *u, struct uconn *uc, int res, unsigned flags)
{
	struct el_conn *c = &uc->c;
	uc->recv_armed = false;
	if (res > 0 && !c->ended) {
		el_conn_stamp(c);
		if (u->br) {
			el_conn_input_hold(c, buf_of(u, flags), (size_t)res);
		} else {
			c->in_off = 0;
			c->in_len = (size_t)res;
			el_conn_input_resume(c);
		}
	}
	recycle(u, flags);
	if (c->ended)
		return;
	if (res == 0)
		el_conn_input_eof(c);
	else if (res < 0 && res != -ENOBUFS && res != -EINTR && res != -EAGAIN && res != -ECANCELED) {
		el_loop_end(&u->l, c, el_conn_end_of_errno(res), res);
		return;
	}
	conn_next(u, uc);
}

static void on_send(struct uloop *u, struct uconn *uc, int res)
{
	struct el_conn *c = &uc->c;
	uc->send_armed = false;
	if (c->ended)
		return;
	if (res < 0 && res != -EINTR && res != -EAGAIN && res != -ECANCELED) {
		el_loop_end(&u->l, c, el_conn_end_of_errno(res), res);
		return;
	}
	if (res > 0) {
		uc->soff += (size_t)res;
		el_conn_held_sent(c, (size_t)res);
	}
	el_conn_input_resume(c);
	conn_next(u, uc);
}

/* A receive's or a send's completion. */
static void on_io(struct uloop *u, struct uconn *uc, enum el_ev kind, const struct io_uring_cqe *cqe)
{
	uc->inflight--;
	int64_t active = uc->c.last_active_ms;
	long *planted = kind == EL_EV_RECV ? &uc->recv_planted : &uc->send_planted;
	int res = *planted ? (int)*planted : cqe->res; /* a no-op stands for its fault */
	*planted = 0;
	u->handling = uc;
	if (kind == EL_EV_RECV)
		on_recv(u, uc, res, cqe->flags);
	else
		on_send(u, uc, res);
	u->handling = NULL;
	if (!uc->c.ended)
		el_loop_touched(&u->l, &uc->c, active);
	else if (uc->inflight == 0)
		settle(u, uc);
}

static void on_cqe(struct uloop *u, const struct io_uring_cqe *cqe)
{
	uint64_t tag = cqe->user_data;
	enum el_ev kind = el_ev_kind(tag);
	/* A connection dealt by another ring is no operation of this one. */
	if (!(cqe->flags & IORING_CQE_F_MORE) && kind != EL_EV_INBOX)
		u->inflight--;
	switch (kind) {
	case EL_EV_INBOX:
		if (cqe->res >= 0)
			el_loop_open(&u->l, cqe->res);
		return;
	case EL_EV_DEALT:
		on_dealt(u, (int)el_ev_what(tag), cqe->res);
		return;
	case EL_EV_LISTENER:
		if (u->accept_planted) { /* a no-op: the fault it stands for */
			long f = u->accept_planted;
			u->accept_planted = 0;
			on_accept(u, (int)f, 0);
			return;
		}
		on_accept(u, cqe->res, cqe->flags);
		return;
	case EL_EV_RECV:
	case EL_EV_SEND:
		on_io(u, el_ev_ptr(tag), kind, cqe);
		return;
	default: /* the stop's poll, the stop's cancellation */
		return;
	}
}

/* Handles every completion that is there. */
static void reap(struct uloop *u)
{
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		/* Copied out first: handling may submit, and a submit may wait
		 * for this very slot to be seen. */
		struct io_uring_cqe copy = *cqe;
		io_uring_cqe_seen(&u->ring, cqe);
		on_cqe(u, &copy);
	}
}

/* Waits for completions until deadline_ms (-1: no deadline). */
static void wait_for(struct uloop *u, int64_t deadline_ms)
{
	struct io_uring_cqe *cqe;
	if (u->evfd >= 0) {
		io_uring_submit(&u->ring);
		if (io_uring_cq_ready(&u->ring) > 0)
			return;
		/* A completion posted after the check has signalled the
		 * eventfd already: poll returns at once. */
		struct pollfd pfd = {.fd = u->evfd, .events = POLLIN};
		if (el_io_poll(&pfd, 1, deadline_ms, false) > 0) {
			uint64_t v;
			ssize_t r = read(u->evfd, &v, sizeof(v));
			(void)r;
		}
		return;
	}
	if (deadline_ms < 0) {
		io_uring_submit_and_wait(&u->ring, 1);
		return;
	}
	int64_t left = deadline_ms - el_io_now_ms();
	if (left < 0)
		left = 0;
	struct __kernel_timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
	io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
}

static void wait_events(struct el_loop *l, int64_t deadline_ms)
{
	struct uloop *u = (struct uloop *)l;
	wait_for(u, deadline_ms);
	reap(u);
}

/* The stop: cancels everything and answers what still arrives, by
 * deadline_ms; then the core's drain flushes and closes. */
static void quiesce(struct el_loop *l, int64_t deadline_ms)
{
	struct uloop *u = (struct uloop *)l;
	/* Before 5.19 cancelling by ANY fails (EINVAL): the operations then
	 * run out the second and end with the ring. */
	struct io_uring_sqe *sqe = sqe_get(u);
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data64(sqe, el_ev_tag(EL_EV_CANCEL, 0));
	while (u->inflight > 0 && el_io_now_ms() < deadline_ms) {
		wait_for(u, deadline_ms);
		reap(u);
	}
	/* Whatever is still in flight ends with the ring: no kernel write into
	 * a buffer freed below. */
	ring_exit(u);
	while (l->ended.oldest)
		settle(u, (struct uconn *)l->ended.oldest);
}

static void flush(struct el_loop *l, struct el_conn *c, int64_t deadline_ms)
{
	(void)l;
	struct uconn *uc = (struct uconn *)c;
	el_io_set_nonblock(c->fd, true);
	/* What a cancelled send had taken goes first. */
	if (unsent_taken(uc) > 0 && el_io_write_all(c->fd, uc->sbuf + uc->soff, unsent_taken(uc), deadline_ms) == 0)
		el_conn_held_sent(c, unsent_taken(uc));
	free(uc->sbuf);
	uc->sbuf = NULL;
}

static int buffers_init(struct uloop *u)
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
	u->bufs = calloc(BUF_COUNT, EL_CONN_READ_SIZE);
	if (!u->bufs) {
		free(br);
		return -ENOMEM;
	}
	struct io_uring_buf_reg reg = {
		.ring_addr = (uintptr_t)br,
		.ring_entries = BUF_COUNT,
		.bgid = BUF_GROUP,
	};
	int rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (rc < 0) {
		/* No buffer rings (before 5.19): each connection its own. */
		free(br);
		free(u->bufs);
		u->bufs = NULL;
		return 0;
	}
	u->br = br;
	io_uring_buf_ring_init(u->br);
	for (unsigned i = 0; i < BUF_COUNT; i++)
		io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * EL_CONN_READ_SIZE, EL_CONN_READ_SIZE,
				      (unsigned short)i, io_uring_buf_ring_mask(BUF_COUNT), (int)i);
	io_uring_buf_ring_advance(u->br, BUF_COUNT);
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
static int ring_init(struct uloop *u, unsigned entries)
{
	struct io_uring *ring = &u->ring;
	size_t first = 0;
	u->evfd = -1;
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
	if (rc < 0)
		return rc;
	u->ring_up = true;
	/* Entering by a registered ring fd spares a file lookup at each enter
	 * (5.18; where it fails, the ring is entered by its fd). */
	if (first == 0) {
		io_uring_register_ring_fd(ring);
		return 0;
	}
	u->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->evfd < 0 || io_uring_register_eventfd(ring, u->evfd) < 0) {
		rc = u->evfd < 0 ? -errno : -EINVAL;
		ring_exit(u);
	}
	return rc;
}

/* On the loop's thread: a single-issuer ring belongs to the thread that
 * made it. */
static int init(struct el_loop *l)
{
	struct uloop *u = (struct uloop *)l;
	const struct uring_cfg *cfg = l->arg;
	u->faults = cfg->faults;
	u->rng = el_uf_rng((unsigned)l->index);
	int rc = ring_init(u, cfg->entries);
	if (rc == 0 && (rc = buffers_init(u)) < 0)
		ring_exit(u);
	if (rc < 0)
		return rc;
	u->multishot = true;
	struct io_uring_sqe *sqe = sqe_get(u);
	io_uring_prep_poll_add(sqe, l->srv->stop_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, el_ev_tag(EL_EV_STOP, 0));
	return 0;
}

static void finish(struct el_loop *l)
{
	struct uloop *u = (struct uloop *)l;
	ring_exit(u); /* a loop that never served still has its ring */
	free(u->br);
	free(u->bufs);
}

static const struct el_loop_ops uring_ops = {EL_LOOP_OPS(struct uloop, struct uconn), .release = release,
					     .deal = deal, .quiesce = quiesce, .flush = flush};

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
	struct uring_cfg cfg = {.entries = 1024};
	const char *e = getenv("ECHOLAB_URING_ENTRIES");
	if (e && atoi(e) > 0)
		cfg.entries = (unsigned)atoi(e);
	/* The listener was made non-blocking for the poll-based models; a
	 * ring waits for connections itself. */
	el_io_set_nonblock(srv->listen_fd, false);
	/* A test hook that production must not run unaware of. */
	cfg.faults = el_uf_init();
	if (cfg.faults) {
		fprintf(stderr, "echolab-server: WARNING: ECHOLAB_FAULTS is set: the uring model's receives, sends "
				"and accepts fail at random on purpose (a test hook; unset it)\n");
		fflush(stderr);
	}
	return el_loop_group_run(srv, &uring_ops, srv->cfg.workers, &cfg);
}
