/* The thread model (the lab's part 2-1): a detached thread per connection,
 * with a small explicit stack; the live count accounts for every thread, and
 * a stop waits for it to reach zero. */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "io.h"
#include "models.h"

/* A connection thread needs little stack: its buffers are on the heap.
 * The sanitizers' red zones need more room than plain code. */
#define THREAD_STACK (256 * 1024)

struct job {
	struct el_srv *srv;
	int fd;
	struct sockaddr_storage peer;
};

static void *serve_thread(void *arg)
{
	struct job *job = arg;
	struct el_srv *srv = job->srv;
	struct el_conn c;
	if (el_conn_init(&c, srv, job->fd, (struct sockaddr *)&job->peer) == 0)
		el_conn_serve_blocking(&c, NULL);
	free(job);
	el_srv_conn_release(srv);
	return NULL;
}

static int start_thread(void *arg, int fd, const struct sockaddr_storage *peer)
{
	struct el_srv *srv = arg;
	struct job *job = malloc(sizeof(*job));
	if (!job)
		return -ENOMEM;
	*job = (struct job){.srv = srv, .fd = fd, .peer = *peer};
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t tid;
	int rc = el_srv_thread(srv, &tid, &attr, serve_thread, job);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		free(job);
		return rc;
	}
	return 0;
}

int el_model_thread_run(struct el_srv *srv)
{
	int rc = el_srv_accept_loop(srv, start_thread, srv, -1, NULL);
	/* Every thread sees the stop pipe, answers what it has read and
	 * leaves within about 1 s. */
	long left = el_srv_wait_drained(srv, el_io_now_ms() + EL_SRV_STOP_WORKERS_MS);
	if (left > 0)
		el_srv_logf(srv, "stop: %ld connection threads still running", left);
	return rc;
}
