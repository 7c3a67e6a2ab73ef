#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "io.h"

static const char *end_names[] = {
	[EL_CONN_END_EOF] = "eof",
	[EL_CONN_END_RESET] = "reset",
	[EL_CONN_END_IDLE] = "idle-timeout",
	[EL_CONN_END_SHUTDOWN] = "shutdown",
	[EL_CONN_END_ERROR] = "error",
};

int el_conn_init(struct el_conn *c, struct el_srv *srv, int fd, const struct sockaddr *peer)
{
	memset(c, 0, sizeof(*c));
	c->srv = srv;
	c->fd = fd;
	c->clock_sec = -1;
	int rc = el_reply_peer_init(&c->peer, peer);
	if (rc == 0) {
		rc = el_framer_init(&c->framer, srv->cfg.max_line);
		if (rc < 0)
			el_srv_logf(srv, "refused %s %u: %s", c->peer.addr, c->peer.port, strerror(-rc));
	} else {
		el_srv_logf(srv, "refused a connection: %s", strerror(-rc));
	}
	if (rc < 0) {
		close(fd);
		c->fd = -1;
		return rc;
	}
	c->last_active_ms = el_io_now_ms();
	el_srv_logf(srv, "open %s %u pid=%ld tid=%ld", c->peer.addr, c->peer.port, (long)getpid(),
		    (long)gettid());
	return 0;
}

void el_conn_finish(struct el_conn *c, enum el_conn_end end, int err)
{
	if (end == EL_CONN_END_ERROR)
		el_srv_logf(c->srv, "close %s %u messages=%llu reason=error (%s)", c->peer.addr,
			    c->peer.port, (unsigned long long)c->messages, strerror(-err));
	else
		el_srv_logf(c->srv, "close %s %u messages=%llu reason=%s", c->peer.addr, c->peer.port,
			    (unsigned long long)c->messages, end_names[end]);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	el_framer_finish(&c->framer);
	free(c->out);
	free(c->log);
	free(c->in);
	c->out = c->log = c->in = NULL;
	c->out_cap = c->log_cap = c->out_len = c->out_off = 0;
}

void el_conn_stamp(struct el_conn *c)
{
	c->last_active_ms = el_io_now_ms();
	if (c->srv->cfg.raw)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != c->clock_sec) {
		if (el_time_format(&ts, c->clock_text) < 0)
			memcpy(c->clock_text, "0000-00-00T00:00:00.000000Z", EL_TIME_LEN + 1);
		c->clock_sec = ts.tv_sec;
		return;
	}
	/* Same second: only the microseconds change. */
	long usec = ts.tv_nsec / 1000;
	for (int i = 25; i >= 20; i--) {
		c->clock_text[i] = (char)('0' + usec % 10);
		usec /= 10;
	}
}

/* Makes room for n more bytes of output. */
static uint8_t *out_reserve(struct el_conn *c, size_t n)
{
	if (c->out_off > 0 && c->out_len + n > c->out_cap) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	uint8_t *p = el_srv_grow(c->out, &c->out_cap, c->out_len + n, 1, 4096);
	if (!p) {
		c->failed = true;
		return NULL;
	}
	c->out = p;
	return p + c->out_len;
}

static void reply(struct el_conn *c, const uint8_t *msg, size_t len)
{
	size_t size = el_reply_size(&c->peer, len);
	uint8_t *o = out_reserve(c, size);
	if (!o)
		return;
	c->out_len += el_reply_write(o, c->clock_text, &c->peer, msg, len);
	c->messages++;

	if (c->srv->log_fd < 0)
		return;
	size_t log_size = el_reply_size(&c->peer, EL_ESCAPE_MAX(len));
	if (log_size > c->log_cap) {
		uint8_t *p = realloc(c->log, log_size);
		if (!p)
			return; /* the echo matters more than its log line */
		c->log = p;
		c->log_cap = log_size;
	}
	size_t n = el_reply_write_log(c->log, c->clock_text, &c->peer, msg, len);
	el_srv_log_write(c->srv, c->log, n);
}

static void reply_too_long(struct el_conn *c)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "! line-too-long %zu\n", c->srv->cfg.max_line);
	uint8_t *o = out_reserve(c, (size_t)n);
	if (!o)
		return;
	memcpy(o, line, (size_t)n);
	c->out_len += (size_t)n;
	el_srv_logf(c->srv, "line-too-long %s %u max-line=%zu", c->peer.addr, c->peer.port,
		    c->srv->cfg.max_line);
}

/* What the framer found (ev): a message echoed, a line too long refused;
 * nothing yet otherwise. */
static void answer(struct el_conn *c, int ev, const uint8_t *msg, size_t len)
{
	if (ev == EL_FRAMER_MESSAGE)
		reply(c, msg, len);
	else if (ev == EL_FRAMER_TOO_LONG)
		reply_too_long(c);
}

/* Output not yet written, held by the model included. */
static size_t unsent(const struct el_conn *c)
{
	return el_conn_pending(c) + c->out_held;
}

size_t el_conn_input(struct el_conn *c, const uint8_t *data, size_t len)
{
	if (c->srv->cfg.raw) {
		size_t pending = unsent(c);
		if (pending >= EL_CONN_OUT_HIGH)
			return 0;
		size_t n = len < EL_CONN_OUT_HIGH - pending ? len : EL_CONN_OUT_HIGH - pending;
		uint8_t *o = out_reserve(c, n);
		if (!o)
			return 0;
		memcpy(o, data, n);
		c->out_len += n;
		return n;
	}

	size_t done = 0;
	while (done < len && unsent(c) < EL_CONN_OUT_HIGH && !c->failed) {
		size_t used;
		const uint8_t *msg;
		size_t msg_len;
		int ev = el_framer_feed(&c->framer, data + done, len - done, &used, &msg, &msg_len);
		done += used;
		answer(c, ev, msg, msg_len);
	}
	return done;
}

void el_conn_input_eof(struct el_conn *c)
{
	c->eof = true;
	if (c->srv->cfg.raw)
		return;
	const uint8_t *msg;
	size_t len;
	int ev = el_framer_eof(&c->framer, &msg, &len);
	answer(c, ev, msg, len);
}

static void sent(struct el_conn *c, size_t n)
{
	c->out_off += n;
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	c->last_active_ms = el_io_now_ms();
}

size_t el_conn_take_output(struct el_conn *c, uint8_t **buf, size_t *cap, size_t *off)
{
	uint8_t *b = c->out;
	size_t bcap = c->out_cap, n = el_conn_pending(c);
	*off = c->out_off;
	c->out = *buf;
	c->out_cap = *cap;
	*buf = b;
	*cap = bcap;
	c->out_off = c->out_len = 0;
	c->out_held += n;
	return n;
}

void el_conn_held_sent(struct el_conn *c, size_t n)
{
	c->out_held -= n;
	c->last_active_ms = el_io_now_ms();
}

long el_conn_write(struct el_conn *c)
{
	ssize_t n = el_io_write(c->fd, c->out + c->out_off, el_conn_pending(c));
	if (n < 0)
		return (long)n;
	sent(c, (size_t)n);
	return (long)n;
}

int el_conn_input_hold(struct el_conn *c, const uint8_t *data, size_t len)
{
	size_t used = el_conn_input(c, data, len);
	if (used == len)
		return 0;
	if (!c->in) {
		c->in = malloc(EL_CONN_READ_SIZE);
		if (!c->in) {
			c->failed = true;
			return -ENOMEM;
		}
	}
	memcpy(c->in, data + used, len - used);
	c->in_off = 0;
	c->in_len = len - used;
	return 0;
}

bool el_conn_input_resume(struct el_conn *c)
{
	if (c->in_off < c->in_len) {
		c->in_off += el_conn_input(c, c->in + c->in_off, c->in_len - c->in_off);
		if (c->in_off < c->in_len)
			return false;
	}
	c->in_off = c->in_len = 0;
	return true;
}

enum el_conn_end el_conn_end_of_errno(long err)
{
	return err == -ECONNRESET || err == -EPIPE || err == -ETIMEDOUT ? EL_CONN_END_RESET
									: EL_CONN_END_ERROR;
}

/* On stop, the replies to messages already read are still sent, for at
 * most this long, so that a stop stays within its 2 s. */
#define STOP_FLUSH_MS 1000

static void flush_on_stop(struct el_conn *c, const uint8_t *in, size_t len, int64_t deadline)
{
	for (;;) {
		if (len > 0) {
			size_t used = el_conn_input(c, in, len);
			in += used;
			len -= used;
		}
		/* Out of memory, the input takes no more: no loop without end. */
		if (c->failed)
			return;
		if (el_conn_pending(c) == 0 && len == 0)
			break;
		if (el_io_write_all(c->fd, c->out + c->out_off, el_conn_pending(c), deadline) < 0)
			return;
		c->out_off = c->out_len = 0;
		if (len == 0)
			break;
	}
	/* Written is not delivered: closing with unread input sends an RST,
	 * which discards whatever still waits in our send queue. Send the FIN
	 * and wait until the client has acknowledged every byte. */
	shutdown(c->fd, SHUT_WR);
	/* Nothing says "acknowledged": look every 2 ms. Not by poll(2) on
	 * the socket, which returns at once once both sides have shut down
	 * (POLLHUP) and made this a busy loop until the deadline. */
	int queued;
	while (ioctl(c->fd, SIOCOUTQ, &queued) == 0 && queued > 0 && el_io_now_ms() < deadline)
		nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
}

void el_conn_serve_blocking(struct el_conn *c, struct el_conn_watch *watch)
{
	/* The serving thread waits on this one client, as a blocking server
	 * does, but in poll(2), so the idle timeout and a stop can end the
	 * wait, and no write can block without a deadline. */
	el_io_set_nonblock(c->fd, true);
	uint8_t *buf = malloc(EL_CONN_READ_SIZE);
	size_t off = 0, len = 0;
	enum el_conn_end end = EL_CONN_END_EOF;
	long err = 0;
	if (!buf) {
		el_conn_finish(c, EL_CONN_END_ERROR, -ENOMEM);
		return;
	}

	for (;;) {
		if (off < len) {
			off += el_conn_input(c, buf + off, len - off);
			if (off == len)
				off = len = 0;
		}
		if (c->failed) {
			end = EL_CONN_END_ERROR;
			err = -ENOMEM;
			break;
		}
		if (el_srv_should_stop(c->srv)) {
			flush_on_stop(c, buf + off, len - off, el_io_now_ms() + STOP_FLUSH_MS);
			end = EL_CONN_END_SHUTDOWN;
			break;
		}
		bool want_write = el_conn_pending(c) > 0;
		bool want_read = !c->eof && len == 0;
		if (!want_write && !want_read)
			break;

		struct pollfd pfds[3] = {
			{.fd = c->fd, .events = (short)((want_read ? POLLIN : 0) | (want_write ? POLLOUT : 0))},
			{.fd = c->srv->stop_fd, .events = POLLIN},
			{.fd = -1},
		};
		int64_t now = el_io_now_ms();
		int64_t deadline = el_conn_idle_deadline(c);
		if (watch && watch->fd >= 0) {
			if (now >= watch->paused_until)
				pfds[2] = (struct pollfd){.fd = watch->fd, .events = POLLIN};
			else if (deadline < 0 || watch->paused_until < deadline)
				deadline = watch->paused_until;
		}
		int rc = el_io_poll(pfds, 3, deadline, false);
		if (rc < 0 && rc != -EINTR) {
			end = EL_CONN_END_ERROR;
			err = rc;
			break;
		}
		if (el_conn_idle_expired(c, el_io_now_ms())) {
			end = EL_CONN_END_IDLE;
			break;
		}
		if (rc <= 0)
			continue;
		if (pfds[2].revents & POLLIN)
			watch->ready(watch);
		if (want_write && (pfds[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
			long n = el_conn_write(c);
			if (n < 0 && n != -EAGAIN) {
				end = el_conn_end_of_errno(n);
				err = n;
				break;
			}
		}
		if (want_read && (pfds[0].revents & (POLLIN | POLLERR | POLLHUP))) {
			ssize_t n = el_io_read(c->fd, buf, EL_CONN_READ_SIZE);
			if (n > 0) {
				el_conn_stamp(c);
				off = 0;
				len = (size_t)n;
			} else if (n == 0) {
				el_conn_input_eof(c);
			} else if (n != -EAGAIN) {
				end = el_conn_end_of_errno(n);
				err = n;
				break;
			}
		}
	}
	free(buf);
	el_conn_finish(c, end, (int)err);
}

void el_conn_stop(struct el_conn *c, int64_t deadline_ms)
{
	flush_on_stop(c, c->in ? c->in + c->in_off : NULL, c->in_len - c->in_off, deadline_ms);
	el_conn_finish(c, EL_CONN_END_SHUTDOWN, 0);
}

/* Reads per turn: enough to keep a busy connection moving, few enough that
 * one pipelining client cannot starve the others of its thread. */
#define PUMP_READS 8

int el_conn_pump(struct el_conn *c, enum el_conn_end *end, int *err)
{
	if (!c->in) {
		c->in = malloc(EL_CONN_READ_SIZE);
		if (!c->in) {
			*end = EL_CONN_END_ERROR;
			*err = -ENOMEM;
			return 0;
		}
	}
	/* A read shorter than the buffer took everything there was: the next
	 * read would only say EAGAIN, and the (level-triggered) readiness
	 * will tell when more comes, so that read is saved. */
	bool drained = false;
	for (int reads = 0;;) {
		el_conn_input_resume(c);
		if (c->failed) {
			*end = EL_CONN_END_ERROR;
			*err = -ENOMEM;
			return 0;
		}
		while (el_conn_pending(c) > 0) {
			long n = el_conn_write(c);
			if (n == -EAGAIN)
				break;
			if (n < 0) {
				*end = el_conn_end_of_errno(n);
				*err = (int)n;
				return 0;
			}
		}
		bool pending = el_conn_pending(c) > 0;
		if (c->eof && !pending) {
			*end = EL_CONN_END_EOF;
			*err = 0;
			return 0;
		}
		/* Input left over means the output is full: wait for the client
		 * to read before reading more from it. */
		if (c->eof || c->in_len > 0)
			return EL_CONN_WANT_WRITE;
		if (drained || reads++ == PUMP_READS)
			return EL_CONN_WANT_READ | (pending ? EL_CONN_WANT_WRITE : 0);
		ssize_t n = el_io_read(c->fd, c->in, EL_CONN_READ_SIZE);
		if (n == -EAGAIN)
			return EL_CONN_WANT_READ | (pending ? EL_CONN_WANT_WRITE : 0);
		if (n < 0) {
			*end = el_conn_end_of_errno(n);
			*err = (int)n;
			return 0;
		}
		if (n == 0) {
			el_conn_input_eof(c);
			continue;
		}
		el_conn_stamp(c);
		c->in_len = (size_t)n;
		drained = (size_t)n < EL_CONN_READ_SIZE;
	}
}

void el_conn_lru_push(struct el_conn_lru *l, struct el_conn *c)
{
	c->older = l->newest;
	c->newer = NULL;
	if (l->newest)
		l->newest->newer = c;
	else
		l->oldest = c;
	l->newest = c;
}

void el_conn_lru_remove(struct el_conn_lru *l, struct el_conn *c)
{
	if (c->older)
		c->older->newer = c->newer;
	else
		l->oldest = c->newer;
	if (c->newer)
		c->newer->older = c->older;
	else
		l->newest = c->older;
	c->older = c->newer = NULL;
}

void el_conn_lru_touch(struct el_conn_lru *l, struct el_conn *c, int64_t active_before)
{
	if (c->last_active_ms == active_before || l->newest == c)
		return;
	el_conn_lru_remove(l, c);
	el_conn_lru_push(l, c);
}

int64_t el_conn_idle_deadline(const struct el_conn *c)
{
	int64_t idle = c->srv->cfg.idle_timeout_ms;
	return idle > 0 ? c->last_active_ms + idle : -1;
}

bool el_conn_idle_expired(const struct el_conn *c, int64_t now)
{
	int64_t deadline = el_conn_idle_deadline(c);
	return deadline >= 0 && now >= deadline;
}

int64_t el_conn_lru_deadline(const struct el_conn_lru *l)
{
	return l->oldest ? el_conn_idle_deadline(l->oldest) : -1;
}

struct el_conn *el_conn_lru_expired(const struct el_conn_lru *l, int64_t now)
{
	return l->oldest && el_conn_idle_expired(l->oldest, now) ? l->oldest : NULL;
}
