/* What every echolab server model shares: its configuration, the listening
 * socket, the stop signal, the log, and the table of models. A model is one
 * function that runs connections until the server is told to stop. */
#ifndef EL_SRV_H
#define EL_SRV_H

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

struct el_srv_config {
	const char *model;
	const char *bind;
	unsigned port;
	int backlog;
	bool raw;
	bool quiet;
	size_t max_line;
	long max_conns;          /* 0: no limit but the system's */
	int64_t idle_timeout_ms; /* 0: never */
	int workers;
	int processes; /* --processes: the model as this many processes */
};

/* One event loop's connections (loops.c): held now, the most held at once,
 * all it ever took. Written by the loop's own thread only; read by the
 * report and the SIGUSR1 handler. */
#define EL_SRV_MAX_LOOPS 64
struct el_srv_loop_count {
	_Atomic long held, peak, total;
};

struct el_srv {
	struct el_srv_config cfg;
	int listen_fd;
	int stop_fd;  /* readable once a stop was asked for; never drained */
	int stop_wfd; /* the signal handler writes here */
	int log_fd;   /* standard output, or -1 with --quiet */
	/* Live connections of the concurrent models, for --max-conns. */
	pthread_mutex_t lock;
	pthread_cond_t drained;
	long live;
	/* With --processes, every process's live connections, in shared
	 * memory: --max-conns bounds them all. NULL: one process. */
	_Atomic long *all_live;
	int process; /* --processes: which this is, 1..N; 0: the only one */
	/* Test hook: ECHOLAB_TEST_FAIL_SPAWN=N makes every Nth fork(2) or
	 * pthread_create(3) of a model fail with EAGAIN (0: never). */
	long fail_spawn_every;
	long spawns;
	/* The event loops of the models that run several (0: not counted),
	 * and the CPUs they are pinned to: loop i on cpus[i % ncpus], the
	 * CPUs the server may use (el_cli_allowed_cpus). */
	int nloops;
	struct el_srv_loop_count loops[EL_SRV_MAX_LOOPS];
	int cpus[EL_SRV_MAX_LOOPS];
	int ncpus;
};

struct el_model {
	const char *name;
	/* What the model is (enum el_trait, traits.h), printed after a TAB
	 * by --list-models so that tests and the bench ask for a trait, not
	 * a name. */
	unsigned traits;
	/* Serves until stop; returns 0, or 1 after a runtime failure it has
	 * already reported on stderr. */
	int (*run)(struct el_srv *srv);
	/* Optional: checks, before the server starts, that the system can run
	 * this model. Returns 0, or -errno with the reason written to why. */
	int (*probe)(char *why, size_t len);
};

/* The models that exist, in --list-models order, ending with {NULL}. */
extern const struct el_model el_models[];

/* On a stop, how long a connection has to answer what it has read and
 * write it out (el_conn_stop's deadline), in milliseconds. */
#define EL_SRV_STOP_CONN_MS 1000
/* On a stop, how long the server waits for its connection processes or
 * threads (each with EL_SRV_STOP_CONN_MS of its own) before it gives up on
 * them, in milliseconds. */
#define EL_SRV_STOP_WORKERS_MS 1800

/* Set by SIGINT/SIGTERM: the one mutable global of a server. Atomic, not
 * volatile sig_atomic_t: the handler runs on one thread and every thread
 * reads it, and sig_atomic_t promises nothing across threads (TSan saw
 * the race). A lock-free atomic is as safe in a signal handler. */
extern _Atomic int el_srv_stopping;
/* The pid that sent that signal (0: the kernel or unknown). */
extern _Atomic int el_srv_stop_sender;

/* Parses argv into cfg. Returns 0 to run, 1 when it printed what was asked
 * (--help, --list-models), or -EINVAL after printing a one-line usage error
 * to stderr. */
int el_srv_parse_args(int argc, char **argv, struct el_srv_config *cfg);

/* Finds a model by name; NULL if there is none. */
const struct el_model *el_srv_find_model(const char *name);

/* Opens the listening socket, installs the signal handlers and prints the
 * ready line. Returns 0, or -errno after a one-line error on stderr. */
int el_srv_start(struct el_srv *srv, const struct el_srv_config *cfg);
/* Closes what el_srv_start opened. */
void el_srv_finish(struct el_srv *srv);

/* --processes N (processes.c): opens N-1 more listeners on the port (with
 * SO_REUSEPORT, which el_srv_start set on the first), forks N processes
 * that each run model on one of them, and waits for the stop, which it
 * passes on to all. Returns 0, or 1 after saying why. */
int el_srv_run_processes(struct el_srv *srv, const struct el_model *model);

/* In a forked child: gives this process a stop pipe of its own, so that
 * a signal to it stops it alone and not every process sharing the
 * parent's pipe. Returns 0 or -errno. */
int el_srv_private_stop(struct el_srv *srv);

/* Forks a worker process that runs fn(srv, arg) and exits with its result.
 * In the child SIGCHLD is unblocked, the stop pipe is private and the
 * fds in close_fds (ending with -1) are closed. Returns the child's pid or
 * -errno (the test hook counts as EAGAIN). */
pid_t el_srv_fork_worker(struct el_srv *srv, int (*fn)(struct el_srv *srv, void *arg), void *arg,
			 const int *close_fds);

/* Stops the given children: SIGTERM, then SIGKILL to those still alive at
 * deadline_ms; reaps them all. pids[i] <= 0 are skipped. */
void el_srv_stop_children(const pid_t *pids, size_t n, int64_t deadline_ms);

/* Empties signalfd sfd (SIGCHLD's) and reaps every child that has
 * exited, calling gone(arg, pid) for each. */
void el_srv_reap_children(int sfd, void (*gone)(void *arg, pid_t pid), void *arg);

/* Blocks sig and returns a non-blocking, close-on-exec signalfd that
 * reads it; -errno (sig unblocked again) when there is none. */
int el_srv_signalfd(int sig);
/* Empties a non-blocking signalfd. */
void el_srv_drain_signalfd(int sfd);

/* True once SIGINT or SIGTERM arrived. */
bool el_srv_should_stop(const struct el_srv *srv);

/* Accepts one connection (close-on-exec, blocking). Returns the fd, or -EAGAIN
 * when there was nothing to accept or the client went away first, or
 * -EMFILE after resource exhaustion, or another -errno.
 *
 * The pause after EMFILE, ENFILE, ENOBUFS or ENOMEM is this file's
 * (accept.c): every model stops accepting for the same time, rather than
 * spin on a queue it cannot empty, each by its own means (a blocking
 * wait, a listener unwatched, a watch paused). With -EMFILE, *resume_ms
 * (when not NULL) is when it may accept again (CLOCK_MONOTONIC ms). */
int el_srv_accept(struct el_srv *srv, struct sockaddr_storage *peer, int64_t *resume_ms);
/* What an accept's error err (an errno) means, as el_srv_accept returns
 * it: -EAGAIN, -EMFILE (logged, *resume_ms set) or -err. For accepts made
 * otherwise (io_uring's). */
int el_srv_accept_error(struct el_srv *srv, int err, int64_t *resume_ms);

/* Waits up to ms milliseconds or until stop. */
void el_srv_pause(struct el_srv *srv, int ms);

/* The blocking models' accept: waits for the listener, the stop, and
 * extra_fd (when >= 0, with on_extra: on_extra(arg) is called when it is
 * readable, before anything is accepted), then accepts. Returns the fd, or -EAGAIN when there is none now (the
 * stop, extra_fd, a client gone first, or after the pause on EMFILE and
 * the like), or another -errno. */
int el_srv_accept_wait(struct el_srv *srv, struct sockaddr_storage *peer, int extra_fd,
		       void (*on_extra)(void *arg), void *arg);

/* What a non-blocking accept does with each connection it took. */
typedef void (*el_srv_taker)(void *arg, int fd, const struct sockaddr_storage *peer);
/* The non-blocking accept, for a listener found readable: accepts every
 * connection waiting and hands each to take. Returns 0 once none is left
 * (or on an error the next readiness retries), or -EMFILE when accepting
 * must pause: *resume_ms is then when it may go on, and the caller stops
 * watching the listener till then. */
int el_srv_accept_all(struct el_srv *srv, el_srv_taker take, void *arg, int64_t *resume_ms);

/* Counts a new connection. Returns false (and counts nothing) when
 * --max-conns connections are live already. Thread-safe. */
bool el_srv_conn_acquire(struct el_srv *srv);
/* Uncounts one; wakes el_srv_wait_drained at zero. Thread-safe. */
void el_srv_conn_release(struct el_srv *srv);
/* Waits until no connection is live or deadline_ms (CLOCK_MONOTONIC).
 * Returns the connections still live. */
long el_srv_wait_drained(struct el_srv *srv, int64_t deadline_ms);

/* The test hook: true when this spawn must fail. Not thread-safe: call
 * from the accepting thread. */
bool el_srv_spawn_fails(struct el_srv *srv);

/* The stop's plumbing (stop.c), for the server's start and finish and
 * for el_srv_thread: the stop pipe and the signals' handler, installed;
 * the pipe detached from the signal taker before it is closed; the stop
 * signals blocked in the calling thread (the taker started once), its
 * mask before into old. el_srv_stop_install returns 0 or -errno. */
int el_srv_stop_install(struct el_srv *srv);
void el_srv_stop_detach(void);
void el_srv_stop_block(sigset_t *old);

/* pthread_create through the test hook, tried again twice on EAGAIN.
 * Returns 0 or -errno. Call from one thread at a time, as
 * el_srv_spawn_fails. */
int el_srv_thread(struct el_srv *srv, pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
		  void *arg);

/* What a concurrent model does with an accepted connection, which the
 * loop has counted: returns 0 once it owns fd (and will call
 * el_srv_conn_release when the connection ends), or -errno when it could not start
 * serving (the loop then answers "! busy" and logs the reason). */
typedef int (*el_srv_handler)(void *arg, int fd, const struct sockaddr_storage *peer);

/* The accept loop of the concurrent models, until stop: accepts, answers
 * "! busy" at --max-conns, pauses on EMFILE, and hands every other
 * connection to handle. When extra_fd >= 0 it is watched too and
 * on_extra(arg) called when readable. Returns 0, or 1 after a fatal accept
 * error it reported. */
int el_srv_accept_loop(struct el_srv *srv, el_srv_handler handle, void *arg, int extra_fd,
		       void (*on_extra)(void *arg));

/* Tells a client over --max-conns "! busy", logs it and closes fd. */
void el_srv_reject_busy(struct el_srv *srv, int fd, const struct sockaddr *peer);

/* Writes "# " and the formatted text as one log line with one write(2).
 * Nothing with --quiet. */
__attribute__((format(printf, 2, 3))) void el_srv_logf(struct el_srv *srv, const char *fmt, ...);

/* Connections per event loop (loops.c), for the models with several:
 * el_srv_loops_start before the loops run (n loops, the first
 * EL_SRV_MAX_LOOPS counted; SIGUSR1 then prints the counts on stderr);
 * el_srv_loop_joined when loop takes a connection, el_srv_loop_left when
 * it lets one go, each from that loop's thread; el_srv_loops_report once
 * the loops have ended: one line on stderr and in the log,
 * "connections per loop (now/most/all): 0: 0/51/51, 1: 0/49/49". */
void el_srv_loops_start(struct el_srv *srv, int n);

/* Keeps thread t, event loop loop, on its CPU: the loop-th of those the
 * server may use (in turn when there are more loops than CPUs), where
 * the kernel steers the packets the loop is dealt. Fails harmlessly. A
 * loop pinned to CPU i itself once left the CPUs taskset gave. */
void el_srv_loop_pin(const struct el_srv *srv, pthread_t t, int loop);

/* Which of n loops serves connection fd: the loop pinned to the CPU that
 * took its packets (SO_INCOMING_CPU), so that a client's packets and its
 * server loop share a CPU; where the kernel does not say, or no loop is
 * on that CPU, the next of *rr (atomic, shared by the loops that deal).
 * By CPU alone, not also by count: see docs/decisions.md 46. */
unsigned el_srv_loop_for(const struct el_srv *srv, int fd, unsigned n, unsigned *rr);
void el_srv_loop_joined(struct el_srv *srv, int loop);
void el_srv_loop_left(struct el_srv *srv, int loop);
void el_srv_loops_report(struct el_srv *srv);

/* Writes a prepared log line with one write(2). */
void el_srv_log_write(struct el_srv *srv, const void *line, size_t len);

/* Room for `need` elements of `size` bytes in the array arr of *cap
 * elements, the capacity doubled (from `first`) until they fit. Returns
 * the array, moved or not, or NULL when memory ran out: arr and *cap are
 * then as they were. */
static inline void *el_srv_grow(void *arr, size_t *cap, size_t need, size_t size, size_t first)
{
	if (need <= *cap && arr)
		return arr;
	size_t n = *cap > 0 ? *cap : first > 0 ? first : 1;
	while (n < need)
		n *= 2;
	void *p = realloc(arr, n * size);
	if (p)
		*cap = n;
	return p;
}

#endif
