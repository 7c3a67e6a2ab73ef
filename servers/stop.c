/* Stopping: SIGINT and SIGTERM taken by one thread (or the handler),
 * the stop pipe every model watches, and the stop flag. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

_Atomic int el_srv_stopping;

/* The write end of the stop pipe, for the signal handler only. */
static _Atomic int stop_pipe_wfd = -1;

_Atomic int el_srv_stop_sender;

static void on_stop_signal(int sig)
{
	int saved = errno;
	el_srv_stopping = sig;
	if (stop_pipe_wfd >= 0) {
		char b = 1;
		/* The pipe is never drained, so one byte is enough; a full pipe
		 * (impossible with one byte per signal) would be harmless. */
		ssize_t n = write(stop_pipe_wfd, &b, 1);
		(void)n;
	}
	errno = saved;
}

/* Who sent the stop: a stop nobody expected is then explained. */
static void on_stop_siginfo(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	el_srv_stop_sender = si ? si->si_pid : 0;
	on_stop_signal(sig);
}

/* SIGINT and SIGTERM in a multi-threaded server: one thread takes them
 * with sigwaitinfo, every other thread blocks them. A handler is not
 * enough there: under ThreadSanitizer a stop sent to a server whose main
 * thread was about to wait in pthread_join was at times held back by the
 * runtime and never handed to the handler, and every thread slept on
 * (decisions.md, 28). */
static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

/* The taker writes the stop pipe under this lock, which el_srv_finish
 * takes before it closes the pipe: no write can reach a reused fd. */
static pthread_mutex_t taker_lock = PTHREAD_MUTEX_INITIALIZER;

static void *take_stop_signals(void *arg)
{
	(void)arg;
	sigset_t set;
	stop_signals(&set);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig <= 0)
			continue;
		pthread_mutex_lock(&taker_lock);
		on_stop_siginfo(sig, &si, NULL);
		pthread_mutex_unlock(&taker_lock);
	}
	return NULL;
}

/* Run once, by the thread that starts the server's first thread (the
 * main thread): if the taker cannot start, the handler stays in charge. */
static void start_stop_taker(void)
{
	sigset_t set, old;
	stop_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_t t;
	if (pthread_create(&t, &attr, take_stop_signals, NULL) != 0)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
}

/* A new stop pipe for srv, the one the signals write to. Returns 0 or
 * -errno. */
static int open_stop_pipe(struct el_srv *srv)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	srv->stop_fd = fds[0];
	srv->stop_wfd = fds[1];
	stop_pipe_wfd = fds[1];
	return 0;
}

int el_srv_stop_install(struct el_srv *srv)
{
	int rc = open_stop_pipe(srv);
	if (rc < 0)
		return rc;

	/* No SA_RESTART: a blocked accept or poll returns EINTR at once. */
	struct sigaction sa = {.sa_sigaction = on_stop_siginfo, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A client that goes away mid-reply must cost one connection, never
	 * the server: every socket write also passes MSG_NOSIGNAL. */
	struct sigaction ign = {.sa_handler = SIG_IGN};
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, NULL);
	return 0;
}

int el_srv_private_stop(struct el_srv *srv)
{
	int old_fd = srv->stop_fd, old_wfd = srv->stop_wfd;
	int rc = open_stop_pipe(srv);
	if (rc < 0)
		return rc;
	close(old_fd);
	close(old_wfd);
	/* A stop that reached the parent before the fork stays in force. */
	if (el_srv_stopping)
		on_stop_signal(el_srv_stopping);
	return 0;
}

bool el_srv_should_stop(const struct el_srv *srv)
{
	(void)srv;
	return el_srv_stopping != 0;
}

void el_srv_stop_detach(void)
{
	pthread_mutex_lock(&taker_lock);
	stop_pipe_wfd = -1;
	pthread_mutex_unlock(&taker_lock);
}

void el_srv_stop_block(sigset_t *old)
{
	static pthread_once_t taker = PTHREAD_ONCE_INIT;
	pthread_once(&taker, start_stop_taker);
	sigset_t stops;
	stop_signals(&stops);
	pthread_sigmask(SIG_BLOCK, &stops, old);
}

