/* The server's processes and threads: spawned through the test hook
 * (ECHOLAB_TEST_FAIL_SPAWN), tried again on EAGAIN, pinned, stopped. */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"

bool el_srv_spawn_fails(struct el_srv *srv)
{
	srv->spawns++;
	return srv->fail_spawn_every > 0 && srv->spawns % srv->fail_spawn_every == 0;
}

/* EAGAIN from fork(2) and pthread_create(3) is a transient shortage (a
 * moment at the process or thread limit): two more tries, 1 ms and 4 ms
 * later, before the caller gives up on this spawn. */
static const int spawn_retry_us[] = {1000, 4000};

int el_srv_thread(struct el_srv *srv, pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
		  void *arg)
{
	if (el_srv_spawn_fails(srv))
		return -EAGAIN;
	/* Every new thread starts with the stop signals blocked. */
	sigset_t old;
	el_srv_stop_block(&old);
	int err = pthread_create(t, attr, fn, arg);
	for (size_t i = 0; err == EAGAIN && i < sizeof(spawn_retry_us) / sizeof(*spawn_retry_us); i++) {
		usleep((useconds_t)spawn_retry_us[i]);
		err = pthread_create(t, attr, fn, arg);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}

/* The set of signal sig alone. */
static sigset_t one_signal(int sig)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	return set;
}

pid_t el_srv_fork_worker(struct el_srv *srv, int (*fn)(struct el_srv *srv, void *arg), void *arg,
			 const int *close_fds)
{
	if (el_srv_spawn_fails(srv))
		return -EAGAIN;
	pid_t parent = getpid();
	pid_t pid = fork();
	for (size_t i = 0; pid < 0 && errno == EAGAIN && i < sizeof(spawn_retry_us) / sizeof(*spawn_retry_us);
	     i++) {
		usleep((useconds_t)spawn_retry_us[i]);
		pid = fork();
	}
	if (pid < 0)
		return -errno;
	if (pid > 0)
		return pid;
	/* A worker does not outlive its server: killed outright (SIGKILL),
	 * the parent cannot stop its children, so the kernel tells them. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	sigset_t chld = one_signal(SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
	for (const int *fd = close_fds; fd && *fd >= 0; fd++)
		close(*fd);
	if (el_srv_private_stop(srv) < 0)
		_exit(1);
	/* _exit: the parent's stdio buffers and atexit handlers are not ours. */
	_exit(fn(srv, arg));
}

/* Sends sig to each of the n pids that is one (> 0). Returns how many
 * took it. */
static size_t signal_all(const pid_t *pids, size_t n, int sig)
{
	size_t sent = 0;
	for (size_t i = 0; i < n; i++)
		if (pids[i] > 0 && kill(pids[i], sig) == 0)
			sent++;
	return sent;
}

void el_srv_stop_children(const pid_t *pids, size_t n, int64_t deadline_ms)
{
	size_t left = signal_all(pids, n, SIGTERM);
	bool killed = false;
	while (left > 0) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);
		if (pid > 0) {
			for (size_t i = 0; i < n; i++)
				if (pids[i] == pid)
					left--;
			continue;
		}
		if (pid < 0 && errno == ECHILD)
			break;
		if (!killed && el_io_now_ms() >= deadline_ms) {
			signal_all(pids, n, SIGKILL);
			killed = true;
		}
		usleep(2000);
	}
}

int el_srv_signalfd(int sig)
{
	sigset_t set = one_signal(sig);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		return -err;
	}
	return fd;
}

void el_srv_drain_signalfd(int sfd)
{
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof(si)) > 0)
		;
}

void el_srv_reap_children(int sfd, void (*gone)(void *arg, pid_t pid), void *arg)
{
	el_srv_drain_signalfd(sfd);
	pid_t pid;
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		gone(arg, pid);
}
