/* --processes N: one event-driven model run as N processes, so that a
 * server holds more connections than one process's fd limit allows (the
 * way nginx's workers share a port with reuseport). Each process has a
 * listener of its own on the one port (SO_REUSEPORT: the kernel deals
 * each new connection to one of them), its own loops and its own fd
 * limit. To its clients and to whoever runs it, it is one server: one
 * ready line (the parent's, printed before any process starts), one
 * --max-conns (a count in shared memory), and one stop: the parent, which
 * serves nothing itself, passes a SIGINT or SIGTERM to every process and
 * waits for each to answer what it has read. */
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"

/* Another listener on the address and port of the first (which the
 * kernel may have chosen: --port 0). Returns the fd or -errno. */
static int listen_again(const struct el_srv *srv)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(srv->listen_fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, srv->cfg.backlog) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

struct proc {
	const struct el_model *model;
	int listen_fd;
	int index; /* 1..N */
};

/* A process of the server: the model on its own listener. */
static int serve(struct el_srv *srv, void *arg)
{
	const struct proc *p = arg;
	srv->listen_fd = p->listen_fd;
	srv->process = p->index;
	return p->model->run(srv);
}

int el_srv_run_processes(struct el_srv *srv, const struct el_model *model)
{
	int n = srv->cfg.processes, rc = 0;
	int *fds = calloc((size_t)n + 1, sizeof(*fds));
	pid_t *pids = calloc((size_t)n, sizeof(*pids));
	struct proc *procs = calloc((size_t)n, sizeof(*procs));
	srv->all_live = mmap(NULL, sizeof(*srv->all_live), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!fds || !pids || !procs || srv->all_live == MAP_FAILED) {
		fprintf(stderr, "echolab-server: out of memory for %d processes\n", n);
		srv->all_live = NULL;
		rc = 1;
		goto out;
	}
	*srv->all_live = 0;
	/* Every listener before any process starts: a port another server
	 * took meanwhile is an error here, not a process that dies. */
	fds[0] = srv->listen_fd;
	for (int i = 1; i < n; i++) {
		fds[i] = listen_again(srv);
		if (fds[i] < 0) {
			fprintf(stderr, "echolab-server: --processes: listener %d of %d: %s\n", i + 1, n,
				strerror(-fds[i]));
			for (int k = 1; k < i; k++)
				close(fds[k]);
			rc = 1;
			goto out;
		}
	}
	fds[n] = -1;
	int started = 0;
	for (int i = 0; i < n; i++) {
		procs[i] = (struct proc){.model = model, .listen_fd = fds[i], .index = i + 1};
		/* The others' listeners closed in the child: a process that has
		 * stopped must not keep a listener the kernel deals to. */
		int others[65], k = 0;
		for (int j = 0; j < n; j++)
			if (j != i)
				others[k++] = fds[j];
		others[k] = -1;
		pid_t pid = el_srv_fork_worker(srv, serve, &procs[i], others);
		if (pid < 0) {
			fprintf(stderr, "echolab-server: --processes: process %d of %d: %s\n", i + 1, n,
				strerror((int)-pid));
			rc = 1;
			break;
		}
		pids[i] = pid;
		started++;
	}
	/* The parent serves nothing: every listener is a process's alone. */
	for (int i = 0; i < n; i++)
		close(fds[i]);
	srv->listen_fd = -1;
	el_srv_logf(srv, "processes: %d of %d started", started, n);
	int alive = started;
	while (rc == 0 && alive > 0 && !el_srv_should_stop(srv)) {
		el_srv_pause(srv, 200);
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (int i = 0; i < n; i++) {
				if (pids[i] != pid)
					continue;
				pids[i] = 0;
				alive--;
				fprintf(stderr, "echolab-server: process %d of %d (pid %d) ended on its own: %s %d\n",
					i + 1, n, (int)pid, WIFEXITED(status) ? "exit status" : "signal",
					WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
				if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
					rc = 1;
			}
		}
	}
	/* Each process answers what it has read, as one would (the same
	 * deadline as a single process's connection processes). */
	el_srv_stop_children(pids, (size_t)n, el_io_now_ms() + EL_SRV_STOP_WORKERS_MS);
out:
	if (srv->all_live)
		munmap((void *)srv->all_live, sizeof(*srv->all_live));
	srv->all_live = NULL;
	free(fds);
	free(pids);
	free(procs);
	return rc;
}
