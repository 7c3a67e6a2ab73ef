#include "client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"
#include "reply.h"

static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		rc = el_io_poll(&pfd, 1, el_io_now_ms() + timeout_ms, true);
		if (rc == 0) {
			errno = ETIMEDOUT;
			rc = -1;
		} else if (rc > 0) {
			int soerr = 0;
			socklen_t len = sizeof(soerr);
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
			errno = soerr;
			rc = soerr ? -1 : 0;
		}
	}
	if (rc < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	el_io_set_nonblock(fd, false);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int el_client_connect(const char *host, unsigned port, int timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	char service[8];
	snprintf(service, sizeof(service), "%u", port);
	struct addrinfo *res;
	int rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve host '%s': %s", host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	int fd = -EHOSTUNREACH;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, timeout_ms);
		if (fd >= 0)
			break;
		char addr[EL_ADDR_STRLEN] = "?";
		unsigned p;
		el_addr_format(ai->ai_addr, addr, &p);
		snprintf(err, errlen, "connect to %s port %u: %s", addr, port, strerror(-fd));
	}
	freeaddrinfo(res);
	return fd;
}

int el_lines_init(struct el_lines *r, int fd, size_t max)
{
	*r = (struct el_lines){.fd = fd, .max = max, .cap = 64 * 1024};
	r->buf = malloc(r->cap);
	return r->buf ? 0 : -ENOMEM;
}

void el_lines_finish(struct el_lines *r)
{
	free(r->buf);
	r->buf = NULL;
}

ssize_t el_lines_next(struct el_lines *r, const uint8_t **line, size_t *rest_len,
		      int64_t deadline_ms)
{
	size_t scanned = 0;
	for (;;) {
		uint8_t *start = r->buf + r->off;
		uint8_t *lf = memchr(start + scanned, '\n', r->len - r->off - scanned);
		if (lf) {
			size_t n = (size_t)(lf - start) + 1;
			*line = start;
			r->off += n;
			return (ssize_t)n;
		}
		scanned = r->len - r->off;
		if (scanned >= r->max)
			return -EMSGSIZE;
		if (r->off > 0) {
			memmove(r->buf, r->buf + r->off, scanned);
			r->len = scanned;
			r->off = 0;
		}
		if (r->len == r->cap) {
			size_t cap = r->cap * 2;
			uint8_t *p = realloc(r->buf, cap);
			if (!p)
				return -ENOMEM;
			r->buf = p;
			r->cap = cap;
		}
		struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
		int rc = el_io_poll(&pfd, 1, deadline_ms, true);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return -ETIMEDOUT;
		ssize_t n = recv(r->fd, r->buf + r->len, r->cap - r->len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			*line = r->buf + r->off;
			*rest_len = r->len - r->off;
			return 0;
		}
		r->len += (size_t)n;
	}
}

unsigned el_ready_port(const char *text)
{
	const char *addr = strstr(text, "listening on ");
	if (!addr)
		return 0;
	addr += 13;
	size_t len = strcspn(addr, " \n");
	if (addr[len] != ' ' && addr[len] != '\n')
		return 0;
	for (size_t i = len; i-- > 0;)
		if (addr[i] == ':')
			return (unsigned)strtoul(addr + i + 1, NULL, 10);
	return 0;
}
