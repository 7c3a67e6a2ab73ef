/* The server's frame: its listener, its fd limit, its start and finish,
 * and its log. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "framer.h"
#include "io.h"
#include "reply.h"
#include "version.h"

static int open_listener(struct el_srv *srv, const struct el_srv_config *cfg)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	char port[8];
	snprintf(port, sizeof(port), "%u", cfg->port);
	struct addrinfo *res;
	int rc = getaddrinfo(cfg->bind, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "echolab-server: bad --bind address '%s': %s\n", cfg->bind,
			gai_strerror(rc));
		return -EINVAL;
	}
	/* Non-blocking: a client that resets between poll(2) saying readable
	 * and accept(2) must not leave a model blocked in accept. */
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "echolab-server: socket: %s\n", strerror(errno));
		goto out;
	}
	int one = 1, zero = 0;
	/* SO_REUSEADDR lets a restarted server bind while old connections sit
	 * in TIME_WAIT; it never lets two servers listen on one port. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* --processes: each process listens on the port with a socket of its
	 * own, and the kernel deals the connections among them. */
	if (cfg->processes > 1)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		rc = -errno;
		fprintf(stderr, "echolab-server: bind %s port %u: %s\n", cfg->bind, cfg->port,
			strerror(errno));
		goto fail;
	}
	if (listen(fd, cfg->backlog) < 0) {
		rc = -errno;
		fprintf(stderr, "echolab-server: listen: %s\n", strerror(errno));
		goto fail;
	}
	srv->listen_fd = fd;
	freeaddrinfo(res);
	return 0;
fail:
	close(fd);
out:
	freeaddrinfo(res);
	return rc;
}

/* Fds a server needs besides its connections: standard streams, the
 * listener, the stop pipe, event-loop instances. */
#define NOFILE_RESERVE 32

int el_srv_start(struct el_srv *srv, const struct el_srv_config *cfg)
{
	*srv = (struct el_srv){
		.cfg = *cfg,
		.listen_fd = -1,
		.stop_fd = -1,
		.stop_wfd = -1,
		.log_fd = cfg->quiet ? -1 : STDOUT_FILENO,
	};
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->drained, NULL);
	const char *hook = getenv("ECHOLAB_TEST_FAIL_SPAWN");
	if (hook)
		srv->fail_spawn_every = strtol(hook, NULL, 10);
	int rc = el_srv_stop_install(srv);
	if (rc < 0) {
		fprintf(stderr, "echolab-server: pipe: %s\n", strerror(-rc));
		return rc;
	}
	rc = open_listener(srv, cfg);
	if (rc < 0) {
		el_srv_finish(srv);
		return rc;
	}

	long nofile = el_cli_raise_nofile(0);

	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	getsockname(srv->listen_fd, (struct sockaddr *)&ss, &len);
	char addr[EL_ADDR_STRLEN];
	unsigned port;
	el_addr_format((struct sockaddr *)&ss, addr, &port);
	const char *l = ss.ss_family == AF_INET6 ? "[" : "", *r = ss.ss_family == AF_INET6 ? "]" : "";
	fprintf(stderr, "listening on %s%s%s:%u model=%s backlog=%d\n", l, addr, r, port, cfg->model,
		cfg->backlog);
	fflush(stderr);
	/* A test hook that an inherited environment could turn on in
	 * production says so, on stderr and in the log. */
	if (srv->fail_spawn_every > 0) {
		fprintf(stderr,
			"echolab-server: WARNING: ECHOLAB_TEST_FAIL_SPAWN=%ld is set: every %ldth fork(2) or "
			"pthread_create(3) fails on purpose (a test hook; unset it)\n",
			(long)srv->fail_spawn_every, (long)srv->fail_spawn_every);
		fflush(stderr);
		el_srv_logf(srv, "WARNING: ECHOLAB_TEST_FAIL_SPAWN=%ld is set: spawns fail on purpose",
			    (long)srv->fail_spawn_every);
	}
	/* After the ready line, which must be the first line on stderr. Each
	 * connection costs one fd; a few more are the server's own. */
	if (nofile > 0 && cfg->max_conns > 0 && cfg->max_conns > nofile - NOFILE_RESERVE) {
		fprintf(stderr,
			"echolab-server: RLIMIT_NOFILE is %ld (hard limit), lower than --max-conns %ld "
			"needs; accepting pauses when fds run out\n",
			nofile, cfg->max_conns);
		fflush(stderr);
	}
	return 0;
}

void el_srv_finish(struct el_srv *srv)
{
	el_srv_stop_detach();
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	if (srv->stop_wfd >= 0)
		close(srv->stop_wfd);
	srv->listen_fd = srv->stop_fd = srv->stop_wfd = -1;
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->drained);
}

void el_srv_log_write(struct el_srv *srv, const void *line, size_t len)
{
	if (srv->log_fd < 0)
		return;
	/* One write(2) per line, so lines of concurrent connections never
	 * interleave; a failing log (closed stdout) must not stop serving. */
	el_io_write_all(srv->log_fd, line, len, -1);
}

void el_srv_logf(struct el_srv *srv, const char *fmt, ...)
{
	if (srv->log_fd < 0)
		return;
	char line[512] = "# ";
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line + 2, sizeof(line) - 3, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = 2 + ((size_t)n < sizeof(line) - 3 ? (size_t)n : sizeof(line) - 4);
	line[len++] = '\n';
	el_srv_log_write(srv, line, len);
}
