#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t el_io_now_ms(void)
{
	return el_io_now_us() / 1000;
}

double el_io_now_s(void)
{
	return (double)el_io_now_us() / 1e6;
}

int64_t el_io_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int el_io_set_nonblock(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

ssize_t el_io_read(int fd, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

ssize_t el_io_write(int fd, const void *buf, size_t len)
{
	for (;;) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		/* Not a socket (a log file, a pipe): SIGPIPE is ignored by every
		 * program that writes to one, so write(2) is as safe. */
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

int el_io_poll(struct pollfd *fds, nfds_t n, int64_t deadline_ms, bool retry_eintr)
{
	for (;;) {
		int timeout = -1;
		if (deadline_ms >= 0) {
			int64_t left = deadline_ms - el_io_now_ms();
			timeout = left <= 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
		}
		int rc = poll(fds, n, timeout);
		if (rc >= 0)
			return rc;
		if (errno != EINTR || !retry_eintr)
			return -errno;
	}
}

int el_io_write_all(int fd, const void *buf, size_t len, int64_t deadline_ms)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = el_io_write(fd, p, len);
		if (n == -EAGAIN) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			int rc = el_io_poll(&pfd, 1, deadline_ms, true);
			if (rc < 0)
				return rc;
			if (rc == 0)
				return -ETIMEDOUT;
			continue;
		}
		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
