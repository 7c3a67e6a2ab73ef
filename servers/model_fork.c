/* The fork model (the lab's part 1-2): the parent accepts, a child process
 * per connection serves it and exits. SIGCHLD arrives through a signalfd,
 * so children are reaped in the accept loop and no zombie stays. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn.h"
#include "io.h"
#include "models.h"

struct forker {
	struct el_srv *srv;
	int sfd;
	pid_t *pids;
	size_t n, cap;
	int conn_fd; /* the connection the next child serves */
	struct sockaddr_storage peer;
};

static int serve_child(struct el_srv *srv, void *arg)
{
	struct forker *f = arg;
	struct el_conn c;
	if (el_conn_init(&c, srv, f->conn_fd, (struct sockaddr *)&f->peer) < 0)
		return 1;
	el_conn_serve_blocking(&c, NULL);
	return 0;
}

static int start_child(void *arg, int fd, const struct sockaddr_storage *peer)
{
	struct forker *f = arg;
	pid_t *pids = el_srv_grow(f->pids, &f->cap, f->n + 1, sizeof(*pids), 64);
	if (!pids)
		return -ENOMEM;
	f->pids = pids;
	f->conn_fd = fd;
	f->peer = *peer;
	int close_fds[] = {f->srv->listen_fd, f->sfd, -1};
	pid_t pid = el_srv_fork_worker(f->srv, serve_child, f, close_fds);
	if (pid < 0)
		return pid;
	close(fd);
	f->pids[f->n++] = pid;
	return 0;
}

/* A child has exited: its connection is done. */
static void child_gone(void *arg, pid_t pid)
{
	struct forker *f = arg;
	for (size_t i = 0; i < f->n; i++) {
		if (f->pids[i] == pid) {
			f->pids[i] = f->pids[--f->n];
			el_srv_conn_release(f->srv);
			break;
		}
	}
}

static void reap(void *arg)
{
	struct forker *f = arg;
	el_srv_reap_children(f->sfd, child_gone, f);
}

int el_model_fork_run(struct el_srv *srv)
{
	struct forker f = {.srv = srv, .sfd = el_srv_signalfd(SIGCHLD)};
	if (f.sfd < 0) {
		fprintf(stderr, "echolab-server: signalfd: %s\n", strerror(-f.sfd));
		return 1;
	}
	int rc = el_srv_accept_loop(srv, start_child, &f, f.sfd, reap);
	el_srv_stop_children(f.pids, f.n, el_io_now_ms() + EL_SRV_STOP_WORKERS_MS);
	free(f.pids);
	close(f.sfd);
	return rc;
}
