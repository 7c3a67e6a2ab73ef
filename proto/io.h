/* Socket and file I/O helpers shared by servers, clients and tests. Every
 * read and write loop of echolab handles short counts, EINTR and EAGAIN
 * here, once. All return a negative errno on failure. */
#ifndef EL_IO_H
#define EL_IO_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t el_io_now_ms(void);
/* Microseconds on CLOCK_MONOTONIC. */
int64_t el_io_now_us(void);
/* The same clock in seconds. */
double el_io_now_s(void);

/* Sets or clears O_NONBLOCK. Returns 0 or -errno. */
int el_io_set_nonblock(int fd, bool on);

/* One read(2), retried on EINTR. Returns bytes read, 0 at EOF, or -errno
 * (-EAGAIN on a non-blocking fd with nothing to read). */
ssize_t el_io_read(int fd, void *buf, size_t len);

/* One send(2) with MSG_NOSIGNAL (write(2) if fd is not a socket), retried
 * on EINTR. Returns bytes written (possibly short) or -errno. */
ssize_t el_io_write(int fd, const void *buf, size_t len);

/* Writes all of buf, waiting in poll(2) on EAGAIN, until deadline_ms on
 * CLOCK_MONOTONIC (-1: no deadline). Returns 0, -ETIMEDOUT, or -errno. */
int el_io_write_all(int fd, const void *buf, size_t len, int64_t deadline_ms);

/* poll(2) until deadline_ms (-1: forever), retried on EINTR when
 * retry_eintr. Returns the number of ready fds, 0 on timeout, or -errno. */
int el_io_poll(struct pollfd *fds, nfds_t n, int64_t deadline_ms, bool retry_eintr);

#endif
