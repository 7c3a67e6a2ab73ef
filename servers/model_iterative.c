/* The iterative model (the lab's part 1-1): one connection at a time, in
 * the order they were accepted. Clients that arrive meanwhile wait in the
 * kernel's accept queue (--backlog), unless --max-conns is set: then the
 * server accepts them as they come, keeps up to max-conns - 1 of them
 * waiting in its own queue and answers the others "! busy". */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "io.h"
#include "models.h"

struct held {
	int fd;
	struct sockaddr_storage peer;
};

struct iterative {
	struct el_conn_watch watch; /* first: the watch callback casts back */
	struct el_srv *srv;
	struct held *queue;
	size_t head, count, cap;
	size_t limit; /* connections that may wait: max-conns - 1 */
};

static bool hold(struct iterative *it, int fd, const struct sockaddr_storage *peer)
{
	if (it->count >= it->limit)
		return false;
	if (it->head > 0 && it->head + it->count == it->cap) {
		memmove(it->queue, it->queue + it->head, it->count * sizeof(*it->queue));
		it->head = 0;
	}
	struct held *q = el_srv_grow(it->queue, &it->cap, it->head + it->count + 1, sizeof(*q), 16);
	if (!q)
		return false;
	it->queue = q;
	it->queue[it->head + it->count++] = (struct held){.fd = fd, .peer = *peer};
	return true;
}

static void hold_or_reject(void *arg, int fd, const struct sockaddr_storage *peer)
{
	struct iterative *it = arg;
	if (!hold(it, fd, peer))
		el_srv_reject_busy(it->srv, fd, (const struct sockaddr *)peer);
}

static void on_listen_ready(struct el_conn_watch *w)
{
	struct iterative *it = (struct iterative *)w;
	el_srv_accept_all(it->srv, hold_or_reject, it, &w->paused_until);
}

static void serve(struct iterative *it, int fd, const struct sockaddr_storage *peer)
{
	struct el_conn c;
	if (el_conn_init(&c, it->srv, fd, (const struct sockaddr *)peer) < 0)
		return;
	el_conn_serve_blocking(&c, it->srv->cfg.max_conns > 0 ? &it->watch : NULL);
}

int el_model_iterative_run(struct el_srv *srv)
{
	struct iterative it = {
		.watch = {.fd = srv->listen_fd, .ready = on_listen_ready},
		.srv = srv,
		.limit = srv->cfg.max_conns > 0 ? (size_t)srv->cfg.max_conns - 1 : 0,
	};
	while (!el_srv_should_stop(srv)) {
		if (it.count > 0) {
			struct held h = it.queue[it.head++];
			it.count--;
			serve(&it, h.fd, &h.peer);
			continue;
		}
		struct sockaddr_storage peer;
		int fd = el_srv_accept_wait(srv, &peer, -1, NULL, NULL);
		if (fd >= 0)
			serve(&it, fd, &peer);
	}
	for (size_t i = 0; i < it.count; i++)
		close(it.queue[it.head + i].fd);
	free(it.queue);
	return 0;
}
