/* Client-side helpers shared by echolab's clients and tests: connecting by
 * name and reading reply lines. */
#ifndef EL_CLIENT_H
#define EL_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Connects a TCP socket to host:port, trying every address the name has,
 * within timeout_ms. Returns the fd (blocking, TCP_NODELAY set), or -errno
 * with a one-line reason written to err (for example "connect to
 * 127.0.0.1 port 1: Connection refused"). */
int el_client_connect(const char *host, unsigned port, int timeout_ms, char *err, size_t errlen);

/* The port in echolab-server's ready line ("listening on 127.0.0.1:41234
 * model=epoll ..." or "listening on [::1]:41234 ..."), found anywhere in
 * text. Returns 0 when text holds no ready line whose address is complete
 * (followed by a space or LF). */
unsigned el_ready_port(const char *text);

/* Buffered reader of LF-terminated lines from a socket. */
struct el_lines {
	int fd;
	size_t max;   /* longest line accepted, LF included */
	uint8_t *buf;
	size_t off, len, cap;
};

/* Returns 0 or -ENOMEM. */
int el_lines_init(struct el_lines *r, int fd, size_t max);
void el_lines_finish(struct el_lines *r);

/* Reads the next line, waiting until deadline_ms on CLOCK_MONOTONIC (-1:
 * forever). Returns its length with the LF (*line points at it, valid until
 * the next call), 0 at EOF (*line then holds the len bytes of an
 * unterminated rest in *rest_len), -ETIMEDOUT, -EMSGSIZE for a line longer
 * than max, or -errno. */
ssize_t el_lines_next(struct el_lines *r, const uint8_t **line, size_t *rest_len,
		      int64_t deadline_ms);

#endif
