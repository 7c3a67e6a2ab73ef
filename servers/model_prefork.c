/* The prefork model (Apache's prefork MPM, the lab's "child accepts"
 * design): worker processes each block in accept(2) on the shared listening
 * socket and serve one connection at a time. The parent only keeps the
 * pool: it starts --workers, forks more while idle workers run short (up to
 * --max-conns, default 256), retires idle ones when too many, replaces the
 * dead, and answers "! busy" itself when every worker is busy at the
 * maximum. Workers report idle or busy on a shared scoreboard.
 *
 * Retiring is a claim, not a kill: the parent turns an IDLE slot into
 * RETIRING with a compare-and-swap and wakes the worker with SIGUSR1; a
 * worker turns its slot from IDLE to BUSY the same way after accept(2). So
 * a worker that accepted a client in the instant the parent chose it finds
 * out, serves that client to the end, and only then leaves. (Killing the
 * chosen worker instead closed about 2 in 100 such clients unanswered.) */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn.h"
#include "io.h"
#include "models.h"

#define PREFORK_DEFAULT_MAX 256

enum slot_state { SLOT_FREE, SLOT_STARTING, SLOT_IDLE, SLOT_BUSY, SLOT_RETIRING };

struct slot {
	pid_t pid;
	int state; /* written by the worker, read by the parent */
};

struct prefork {
	struct el_srv *srv;
	struct slot *board; /* shared with the workers */
	size_t max;
	size_t min_spare, max_spare;
	int sfd;
	size_t self;       /* in a worker: its slot */
	size_t spawn_rate; /* forks per tick; doubles while short, as Apache's */
};

static void set_state(struct slot *s, int state)
{
	__atomic_store_n(&s->state, state, __ATOMIC_RELEASE);
}

static int get_state(const struct slot *s)
{
	return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
}

/* Moves a slot from one state to another only if it is still in the
 * first; the parent and the worker both claim IDLE slots this way. */
static bool claim(struct slot *s, int from, int to)
{
	return __atomic_compare_exchange_n(&s->state, &from, to, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

/* A retirement signalled: read, so the signalfd is quiet again (the
 * slot's state says what to do). */
static void drain_retirement(void *arg)
{
	el_srv_drain_signalfd(*(int *)arg);
}

static int worker(struct el_srv *srv, void *arg)
{
	struct prefork *p = arg;
	struct slot *me = &p->board[p->self];
	/* SIGUSR1 stays blocked and is read from a signalfd that poll(2)
	 * watches: a retirement signalled while the worker is serving waits
	 * there, none is lost. (Not ppoll(2) with a mask: valgrind 3.19
	 * reports its sigmask argument as unaddressable.) */
	int retire_fd = el_srv_signalfd(SIGUSR1);
	if (retire_fd < 0) {
		el_srv_logf(srv, "prefork: worker cannot watch for retirement: %s", strerror(-retire_fd));
		return 1;
	}

	set_state(me, SLOT_IDLE);
	while (!el_srv_should_stop(srv) && get_state(me) != SLOT_RETIRING) {
		struct sockaddr_storage peer;
		/* -EAGAIN also when another worker took the connection first,
		 * or it went away. */
		int fd = el_srv_accept_wait(srv, &peer, retire_fd, drain_retirement, &retire_fd);
		if (fd < 0)
			continue;
		bool retiring = !claim(me, SLOT_IDLE, SLOT_BUSY);
		struct el_conn c;
		if (el_conn_init(&c, srv, fd, (struct sockaddr *)&peer) == 0)
			el_conn_serve_blocking(&c, NULL);
		if (retiring)
			break;
		set_state(me, SLOT_IDLE);
	}
	close(retire_fd);
	return 0;
}

static void spawn(struct prefork *p, size_t i)
{
	p->self = i;
	p->board[i].state = SLOT_STARTING;
	int close_fds[] = {p->sfd, -1};
	pid_t pid = el_srv_fork_worker(p->srv, worker, p, close_fds);
	if (pid < 0) {
		p->board[i].state = SLOT_FREE;
		el_srv_logf(p->srv, "prefork: cannot start a worker: %s", strerror(-pid));
		return;
	}
	p->board[i].pid = pid;
}

/* A worker has exited: its slot is free. */
static void worker_gone(void *arg, pid_t pid)
{
	struct prefork *p = arg;
	for (size_t i = 0; i < p->max; i++) {
		if (p->board[i].pid == pid) {
			p->board[i].pid = 0;
			set_state(&p->board[i], SLOT_FREE);
		}
	}
}

static void reap(struct prefork *p)
{
	el_srv_reap_children(p->sfd, worker_gone, p);
}

/* Forks while idle workers run short, retires one when too many are idle.
 * Returns true when every slot is taken by a busy worker. */
static bool maintain(struct prefork *p)
{
	size_t idle = 0, live = 0, busy = 0;
	for (size_t i = 0; i < p->max; i++) {
		int st = get_state(&p->board[i]);
		live += st != SLOT_FREE;
		idle += st == SLOT_IDLE || st == SLOT_STARTING;
		busy += st == SLOT_BUSY;
	}
	if (idle >= p->min_spare)
		p->spawn_rate = 1;
	size_t want = idle < p->min_spare ? p->min_spare - idle : 0;
	if (want > 0 && want < p->spawn_rate)
		want = p->spawn_rate;
	for (size_t i = 0; i < p->max && want > 0; i++) {
		if (get_state(&p->board[i]) == SLOT_FREE) {
			spawn(p, i);
			want--;
			live++;
		}
	}
	if (idle < p->min_spare && p->spawn_rate < 64)
		p->spawn_rate *= 2;
	if (idle > p->max_spare) {
		for (size_t i = p->max; i-- > 0;) {
			if (p->board[i].pid > 0 && claim(&p->board[i], SLOT_IDLE, SLOT_RETIRING)) {
				kill(p->board[i].pid, SIGUSR1);
				break;
			}
		}
	}
	return busy == p->max;
}

int el_model_prefork_run(struct el_srv *srv)
{
	struct prefork p = {.srv = srv, .spawn_rate = 1};
	p.max = srv->cfg.max_conns > 0 ? (size_t)srv->cfg.max_conns : PREFORK_DEFAULT_MAX;
	size_t start = (size_t)srv->cfg.workers < p.max ? (size_t)srv->cfg.workers : p.max;
	p.min_spare = start;
	p.max_spare = start * 2;
	p.board = mmap(NULL, p.max * sizeof(*p.board), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p.board == MAP_FAILED) {
		fprintf(stderr, "echolab-server: mmap: %s\n", strerror(errno));
		return 1;
	}
	p.sfd = el_srv_signalfd(SIGCHLD);
	if (p.sfd < 0) {
		/* Without it no worker's exit would be seen: stop now. */
		fprintf(stderr, "echolab-server: signalfd: %s\n", strerror(-p.sfd));
		munmap(p.board, p.max * sizeof(*p.board));
		return 1;
	}

	while (!el_srv_should_stop(srv)) {
		reap(&p);
		bool full = maintain(&p);
		/* Every worker busy at the maximum: the parent answers the
		 * overflow, as max-conns promises, instead of queueing it. */
		struct pollfd pfds[3] = {
			{.fd = p.sfd, .events = POLLIN},
			{.fd = srv->stop_fd, .events = POLLIN},
			{.fd = full ? srv->listen_fd : -1, .events = POLLIN},
		};
		/* Ticks are short while the pool grows. */
		el_io_poll(pfds, 3, el_io_now_ms() + (p.spawn_rate > 1 ? 20 : 100), false);
		if ((pfds[2].revents & POLLIN) && maintain(&p)) {
			struct sockaddr_storage peer;
			int fd = el_srv_accept(srv, &peer, NULL);
			if (fd >= 0)
				el_srv_reject_busy(srv, fd, (struct sockaddr *)&peer);
		}
	}

	pid_t *pids = calloc(p.max, sizeof(*pids));
	for (size_t i = 0; pids && i < p.max; i++)
		pids[i] = p.board[i].pid;
	el_srv_stop_children(pids, pids ? p.max : 0, el_io_now_ms() + EL_SRV_STOP_WORKERS_MS);
	free(pids);
	munmap(p.board, p.max * sizeof(*p.board));
	close(p.sfd);
	return 0;
}
