#include "netfuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "io.h"
#include "procstat.h"
#include "supervise.h"

/* splitmix64: turns the run's seed and a connection's index into that
 * connection's own seed, and draws its numbers. */
static uint64_t mix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t conn_seed(uint64_t seed, long index)
{
	uint64_t s = seed ^ ((uint64_t)index * 0xd1b54a32d192ed03ULL);
	return mix(&s);
}

/* A number in 0..n-1. */
static size_t below(uint64_t *rng, size_t n)
{
	return n ? (size_t)(mix(rng) % n) : 0;
}

enum ending {
	END_FIN,         /* everything sent, then FIN: every reply, then FIN */
	END_FIN_PARTIAL, /* the same with an unterminated last message */
	END_RESET,       /* an RST at a random point of the stream */
	END_UNREAD,      /* close with replies unread (the kernel sends RST) */
};

/* One reply the stream calls for: an echo of stream[start, start + len),
 * or the too-long error. */
struct item {
	size_t start, len;
	bool too_long;
};

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *q = realloc(b->p, cap);
		if (!q)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

enum state { C_FREE, C_CONNECTING, C_SENDING, C_DRAINING };

struct conn {
	enum state state;
	long index;
	uint64_t rng;
	int fd;
	struct buf stream;
	size_t sent, stop_at; /* send stream[0, stop_at), then the ending */
	enum ending ending;
	long messages;
	struct item *items;
	size_t nitems, next;
	struct buf line; /* a reply line not complete yet */
	char addr[INET6_ADDRSTRLEN];
	unsigned port;
	int64_t next_send_ms, last_progress_ms;
	bool want_out;
};

struct fuzz {
	const struct el_nf_opts *o;
	struct el_nf_result *r;
	struct sockaddr_storage server;
	socklen_t server_len;
	int ep;
	struct conn *conns;
	long started;
	int live;
};

/* --- the streams ------------------------------------------------------- */

static int put_bytes(struct buf *b, uint64_t *rng, size_t n, int kind)
{
	static const uint8_t tricky[] = {'\r', '\r', '[', ']', ' ', '\\', 0, 'a', 0x1b, 0xff};
	for (size_t i = 0; i < n; i++) {
		uint8_t c;
		if (kind == 0)
			c = (uint8_t)(0x20 + below(rng, 95)); /* printable */
		else if (kind == 1)
			do
				c = (uint8_t)below(rng, 256); /* any byte but LF */
			while (c == '\n');
		else
			c = tricky[below(rng, sizeof(tricky))];
		if (buf_put(b, &c, 1) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* One message body of a random kind and length. */
static int gen_body(struct buf *b, uint64_t *rng, size_t max_line)
{
	size_t k = below(rng, 100), n;
	if (k < 35)
		n = below(rng, 64);
	else if (k < 55)
		n = below(rng, 300);
	else if (k < 70) /* at the limit: max-line - 2 .. max-line + 2 */
		n = max_line + below(rng, 5) - (max_line >= 2 ? 2 : max_line);
	else if (k < 80) /* over it */
		n = max_line + 3 + below(rng, 2 * max_line);
	else if (k < 82) /* a flood: one line of up to 256 KiB */
		n = 64 * 1024 + below(rng, 192 * 1024);
	else if (k < 92)
		n = below(rng, 16);
	else
		n = 0;
	return put_bytes(b, rng, n, (int)below(rng, 3));
}

static void gen_items(struct conn *c, size_t max_line, bool eof);

static int gen_stream(struct conn *c, size_t max_line)
{
	uint64_t *rng = &c->rng;
	c->stream.len = 0;
	size_t nmsg = below(rng, 10) == 0 ? below(rng, 200) : below(rng, 24);
	for (size_t i = 0; i < nmsg; i++) {
		if (gen_body(&c->stream, rng, max_line) < 0)
			return -ENOMEM;
		const char *term = below(rng, 10) < 6 ? "\n" : "\r\n";
		if (buf_put(&c->stream, term, strlen(term)) < 0)
			return -ENOMEM;
	}
	c->messages = (long)nmsg;
	size_t k = below(rng, 100);
	c->ending = k < 55 ? END_FIN : k < 70 ? END_FIN_PARTIAL : k < 88 ? END_RESET : END_UNREAD;
	if (c->ending == END_FIN_PARTIAL) {
		size_t before = c->stream.len;
		if (gen_body(&c->stream, rng, max_line) < 0)
			return -ENOMEM;
		if (c->stream.len == before && buf_put(&c->stream, "x", 1) < 0)
			return -ENOMEM;
		if (below(rng, 4) == 0 && buf_put(&c->stream, "\r", 1) < 0)
			return -ENOMEM; /* a CR at EOF is content */
	}
	c->stop_at = c->ending == END_RESET ? below(rng, c->stream.len + 1) : c->stream.len;
	gen_items(c, max_line, c->ending == END_FIN || c->ending == END_FIN_PARTIAL);
	return c->items || c->nitems == 0 ? 0 : -ENOMEM;
}

/* --- the reference ----------------------------------------------------- */

/* The replies docs/protocol.md and docs/decisions.md 1-5 call for, written
 * from their text: a message ends at LF, one CR before it is terminator,
 * a message over max_line gets the error (as soon as it is known to be too
 * long), and with EOF a non-empty unterminated rest is a final message. */
static void gen_items(struct conn *c, size_t max_line, bool eof)
{
	const uint8_t *s = c->stream.p;
	size_t len = c->stream.len, n = 0, start = 0;
	free(c->items);
	c->items = NULL;
	c->nitems = c->next = 0;
	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	c->items = malloc((n + 1) * sizeof(*c->items));
	if (!c->items)
		return;
	n = 0;
	for (size_t i = 0; i <= len; i++) {
		bool lf = i < len && s[i] == '\n';
		size_t mlen = i - start;
		if (i == len) {
			bool known_long = mlen > max_line + 1 || (mlen == max_line + 1 && s[i - 1] != '\r');
			if (mlen > 0 && (eof || known_long))
				c->items[n++] = (struct item){start, mlen, mlen > max_line};
			break;
		}
		if (!lf)
			continue;
		if (mlen > 0 && s[i - 1] == '\r')
			mlen--;
		c->items[n++] = (struct item){start, mlen, mlen > max_line};
		start = i + 1;
	}
	c->nitems = n;
}

/* --- failures ---------------------------------------------------------- */

/* bytes as C-escaped text, at most max bytes of them. */
static void show(char *out, size_t size, const uint8_t *p, size_t n, size_t max)
{
	size_t o = 0;
	for (size_t i = 0; i < n && i < max && o + 8 < size; i++) {
		uint8_t b = p[i];
		if (b >= 0x20 && b < 0x7f && b != '\\' && b != '"')
			out[o++] = (char)b;
		else
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", b);
	}
	if (n > max && o + 4 < size)
		o += (size_t)snprintf(out + o, size - o, "...");
	out[o] = 0;
}

static const char *ending_name(enum ending e)
{
	static const char *names[] = {"fin", "fin-partial", "reset", "unread"};
	return names[e];
}

static void conn_close(struct fuzz *f, struct conn *c, bool reset);

/* Records that connection c broke the protocol, and ends it. */
__attribute__((format(printf, 3, 4))) static void fail(struct fuzz *f, struct conn *c,
							 const char *fmt, ...)
{
	if (f->r->failures++ == 0) {
		char what[512];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		snprintf(f->r->first, sizeof(f->r->first),
			 "connection %ld (%s, %zu bytes, %zu replies due; replay: --seed %llu --conn %ld): %s",
			 c->index, ending_name(c->ending), c->stream.len, c->nitems,
			 (unsigned long long)f->o->seed, c->index, what);
	}
	conn_close(f, c, true);
}

/* --- checking replies -------------------------------------------------- */

static bool is_time(const uint8_t *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	for (int i = 0; i < 27; i++)
		if (shape[i] == 'd' ? t[i] < '0' || t[i] > '9' : t[i] != (uint8_t)shape[i])
			return false;
	return true;
}

/* Checks one complete reply line (LF included) against the next item.
 * Returns false after fail(). */
static bool check_line(struct fuzz *f, struct conn *c, const uint8_t *l, size_t n)
{
	char got[300], want[300];
	if (c->next >= c->nitems) {
		show(got, sizeof(got), l, n, 120);
		fail(f, c, "reply %zu, but only %zu messages: \"%s\"", c->next + 1, c->nitems, got);
		return false;
	}
	const struct item *it = &c->items[c->next];
	if (it->too_long) {
		char e[64];
		int en = snprintf(e, sizeof(e), "! line-too-long %zu\n", f->o->max_line);
		if (n != (size_t)en || memcmp(l, e, n) != 0) {
			show(got, sizeof(got), l, n, 120);
			fail(f, c, "reply %zu: want \"! line-too-long %zu\" for a %zu-byte line, got \"%s\"",
			     c->next + 1, f->o->max_line, it->len, got);
			return false;
		}
		f->r->too_long++;
	} else {
		char mid[96];
		int ml = snprintf(mid, sizeof(mid), "] [%s] [%u] [", c->addr, c->port);
		size_t need = 1 + 27 + (size_t)ml + it->len + 2;
		const uint8_t *m = c->stream.p + it->start;
		if (n != need || l[0] != '[' || !is_time(l + 1) || memcmp(l + 28, mid, (size_t)ml) != 0 ||
		    memcmp(l + 28 + ml, m, it->len) != 0 || l[n - 2] != ']') {
			show(got, sizeof(got), l, n, 120);
			show(want, sizeof(want), m, it->len, 80);
			fail(f, c, "reply %zu: want the echo of \"%s\" (%zu bytes) from %s %u, got \"%s\"",
			     c->next + 1, want, it->len, c->addr, c->port, got);
			return false;
		}
	}
	c->next++;
	f->r->replies++;
	return true;
}

/* Takes received bytes apart into lines. Returns false after fail(). */
static bool received(struct fuzz *f, struct conn *c, const uint8_t *p, size_t n)
{
	f->r->bytes_received += n;
	/* The longest valid reply: an echo of max_line bytes. */
	size_t longest = f->o->max_line + 128;
	while (n > 0) {
		const uint8_t *lf = memchr(p, '\n', n);
		size_t take = lf ? (size_t)(lf - p) + 1 : n;
		if (c->line.len + take > longest) {
			fail(f, c, "a reply line longer than %zu bytes", longest);
			return false;
		}
		if (buf_put(&c->line, p, take) < 0) {
			fail(f, c, "out of memory");
			return false;
		}
		p += take;
		n -= take;
		if (lf) {
			if (!check_line(f, c, c->line.p, c->line.len))
				return false;
			c->line.len = 0;
		}
	}
	return true;
}

/* --- connections ------------------------------------------------------- */

static void conn_close(struct fuzz *f, struct conn *c, bool reset)
{
	if (c->fd >= 0) {
		if (reset) {
			struct linger lg = {.l_onoff = 1, .l_linger = 0};
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(c->fd);
	}
	c->fd = -1;
	c->state = C_FREE;
	f->live--;
	f->r->connections++;
}

static void conn_watch(struct fuzz *f, struct conn *c, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0), .data.ptr = c};
	if (out != c->want_out)
		epoll_ctl(f->ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = out;
}

static int conn_start(struct fuzz *f, struct conn *c, long index)
{
	c->index = index;
	c->rng = conn_seed(f->o->seed, index);
	c->sent = 0;
	c->line.len = 0;
	c->want_out = true;
	if (gen_stream(c, f->o->max_line) < 0)
		return -ENOMEM;
	c->fd = socket(f->server.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = C_CONNECTING;
	c->last_progress_ms = el_io_now_ms();
	f->live++;
	if (connect(c->fd, (struct sockaddr *)&f->server, f->server_len) < 0 && errno != EINPROGRESS) {
		fail(f, c, "connect: %s", strerror(errno));
		return 0;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
	epoll_ctl(f->ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

/* The stream is sent up to stop_at: end the way the connection was drawn. */
static void conn_end_sending(struct fuzz *f, struct conn *c)
{
	switch (c->ending) {
	case END_FIN:
	case END_FIN_PARTIAL:
		shutdown(c->fd, SHUT_WR);
		c->state = C_DRAINING;
		conn_watch(f, c, false);
		if (c->ending == END_FIN)
			f->r->fin++;
		else
			f->r->fin_partial++;
		break;
	case END_RESET:
		f->r->reset++;
		conn_close(f, c, true);
		break;
	case END_UNREAD:
		f->r->unread++;
		conn_close(f, c, false);
		break;
	}
}

static void conn_send(struct fuzz *f, struct conn *c, int64_t now)
{
	while (c->state == C_SENDING && c->next_send_ms <= now) {
		if (c->sent == c->stop_at) {
			conn_end_sending(f, c);
			return;
		}
		size_t k = below(&c->rng, 10), n;
		n = k < 4 ? 1 + below(&c->rng, 16) : k < 8 ? 1 + below(&c->rng, 1460) : 1 + below(&c->rng, 65536);
		if (n > c->stop_at - c->sent)
			n = c->stop_at - c->sent;
		ssize_t w = send(c->fd, c->stream.p + c->sent, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			conn_watch(f, c, true);
			return;
		}
		if (w < 0) {
			fail(f, c, "send at byte %zu: %s", c->sent, strerror(errno));
			return;
		}
		c->sent += (size_t)w;
		f->r->bytes_sent += (uint64_t)w;
		c->last_progress_ms = now;
		conn_watch(f, c, false);
		/* Now and then a pause, so the server sees the pieces apart. */
		if (below(&c->rng, 4) == 0)
			c->next_send_ms = now + (int64_t)below(&c->rng, 3);
	}
}

static void conn_connected(struct fuzz *f, struct conn *c)
{
	int err = 0;
	socklen_t el = sizeof(err);
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		fail(f, c, "connect: %s", strerror(err));
		return;
	}
	struct sockaddr_storage me;
	socklen_t ml = sizeof(me);
	getsockname(c->fd, (struct sockaddr *)&me, &ml);
	if (me.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&me;
		inet_ntop(AF_INET6, &s6->sin6_addr, c->addr, sizeof(c->addr));
		c->port = ntohs(s6->sin6_port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&me;
		inet_ntop(AF_INET, &s4->sin_addr, c->addr, sizeof(c->addr));
		c->port = ntohs(s4->sin_port);
	}
	c->state = C_SENDING;
	c->next_send_ms = 0;
	c->last_progress_ms = el_io_now_ms();
	f->r->messages += c->messages;
	conn_watch(f, c, false);
}

static void conn_read(struct fuzz *f, struct conn *c)
{
	uint8_t buf[65536];
	for (int reads = 0; reads < 16 && c->state != C_FREE; reads++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			c->last_progress_ms = el_io_now_ms();
			if (!received(f, c, buf, (size_t)n))
				return;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			fail(f, c, "recv after %zu of %zu replies: %s (the server reset a client that did "
				   "nothing wrong)",
			     c->next, c->nitems, strerror(errno));
			return;
		}
		/* EOF. The server closes only after our FIN. */
		if (c->state != C_DRAINING) {
			fail(f, c, "the server closed after %zu of %zu bytes sent, before the client's FIN",
			     c->sent, c->stream.len);
			return;
		}
		if (c->line.len > 0) {
			char got[300];
			show(got, sizeof(got), c->line.p, c->line.len, 120);
			fail(f, c, "an unterminated reply before the FIN: \"%s\"", got);
			return;
		}
		if (c->next != c->nitems) {
			fail(f, c, "FIN after %zu of %zu replies", c->next, c->nitems);
			return;
		}
		conn_close(f, c, false);
		return;
	}
}

static void conn_event(struct fuzz *f, struct conn *c, uint32_t events)
{
	if (c->state == C_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		conn_connected(f, c);
		if (c->state != C_SENDING)
			return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		conn_read(f, c);
	if (c->state == C_SENDING && (events & EPOLLOUT))
		conn_send(f, c, el_io_now_ms());
}

/* --- the run ----------------------------------------------------------- */

void el_nf_defaults(struct el_nf_opts *o)
{
	*o = (struct el_nf_opts){
		.host = "127.0.0.1",
		.port = 1234,
		.seed = 1,
		.duration_s = 10,
		.only = -1,
		.parallel = 64,
		.max_line = 8192,
		.stall_ms = 10000,
	};
}

static int resolve(struct fuzz *f, const char *host, unsigned port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
	char p[16];
	snprintf(p, sizeof(p), "%u", port);
	int rc = getaddrinfo(host, p, &hints, &ai);
	if (rc != 0) {
		snprintf(f->r->first, sizeof(f->r->first), "%s: %s", host, gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(&f->server, ai->ai_addr, ai->ai_addrlen);
	f->server_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int el_nf_run(const struct el_nf_opts *o, struct el_nf_result *r)
{
	memset(r, 0, sizeof(*r));
	struct fuzz f = {.o = o, .r = r};
	int parallel = o->only >= 0 ? 1 : (o->parallel > 0 ? o->parallel : 1);
	int rc = resolve(&f, o->host, o->port);
	if (rc < 0)
		return rc;
	f.ep = epoll_create1(EPOLL_CLOEXEC);
	f.conns = calloc((size_t)parallel, sizeof(*f.conns));
	if (f.ep < 0 || !f.conns) {
		snprintf(r->first, sizeof(r->first), "epoll or memory: %s", strerror(errno));
		free(f.conns);
		if (f.ep >= 0)
			close(f.ep);
		return -ENOMEM;
	}
	for (int i = 0; i < parallel; i++)
		f.conns[i].fd = -1;

	int64_t t0 = el_io_now_ms(), last_progress = t0;
	int64_t stop_ms = o->duration_s > 0 ? t0 + (int64_t)(o->duration_s * 1000) : INT64_MAX;
	long limit = o->only >= 0 ? 1 : o->connections;
	rc = 0;
	for (;;) {
		int64_t now = el_io_now_ms();
		if (o->stop && *o->stop)
			break;
		bool more = now < stop_ms && (limit <= 0 || f.started < limit);
		for (int i = 0; more && rc == 0 && i < parallel; i++) {
			if (f.conns[i].state != C_FREE)
				continue;
			long index = o->only >= 0 ? o->only : f.started;
			f.started++;
			rc = conn_start(&f, &f.conns[i], index);
			if (rc < 0)
				snprintf(r->first, sizeof(r->first), "connection %ld: %s", index, strerror(-rc));
			more = limit <= 0 || f.started < limit;
		}
		if (rc < 0 || f.live == 0)
			break;

		/* Sends that are due, and connections that stopped moving. */
		int64_t wake = now + 100;
		for (int i = 0; i < parallel; i++) {
			struct conn *c = &f.conns[i];
			if (c->state == C_FREE)
				continue;
			if (now - c->last_progress_ms > o->stall_ms) {
				fail(&f, c, "no progress for %d ms: %zu of %zu bytes sent, %zu of %zu replies",
				     o->stall_ms, c->sent, c->stop_at, c->next, c->nitems);
				continue;
			}
			if (c->state == C_SENDING && !c->want_out) {
				conn_send(&f, c, now);
				if (c->state == C_SENDING && !c->want_out && c->next_send_ms < wake)
					wake = c->next_send_ms;
			}
		}
		struct epoll_event evs[64];
		int timeout = wake > now ? (int)(wake - now) : 0;
		int n = epoll_wait(f.ep, evs, 64, timeout);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->state != C_FREE)
				conn_event(&f, c, evs[i].events);
		}
		if (o->progress && now - last_progress >= 1000) {
			last_progress = now;
			fprintf(o->progress,
				"netfuzz: %.0f s: %ld connections, %ld replies checked, %ld failures\n",
				(double)(now - t0) / 1000, r->connections, r->replies, r->failures);
			fflush(o->progress);
		}
	}
	for (int i = 0; i < parallel; i++) {
		if (f.conns[i].state != C_FREE)
			conn_close(&f, &f.conns[i], true);
		free(f.conns[i].stream.p);
		free(f.conns[i].line.p);
		free(f.conns[i].items);
	}
	free(f.conns);
	close(f.ep);
	return rc;
}

/* --- a session: the server too ----------------------------------------- */

void el_nf_session_defaults(struct el_nf_session_opts *o)
{
	*o = (struct el_nf_session_opts){
		.warmup_s = 2,
		.check_rss = true,
		.rss_slack = 0.20,
		.rss_slack_kib = 8192,
		.settle_ms = 5000,
	};
	el_nf_defaults(&o->fuzz);
	o->fuzz.duration_s = 6;
}

struct server {
	struct el_sup sup;
	int err_fd; /* its stderr: an unlinked file */
};

/* The last lines of the server's stderr, for a failure message. */
static void server_stderr(const struct server *sv, char *out, size_t size)
{
	off_t end = lseek(sv->err_fd, 0, SEEK_END);
	off_t from = end > (off_t)size - 1 ? end - (off_t)size + 1 : 0;
	ssize_t n = pread(sv->err_fd, out, size - 1, from);
	out[n > 0 ? n : 0] = 0;
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = '|';
}

static void preload(void *arg)
{
	if (arg)
		setenv("LD_PRELOAD", arg, 1);
}

static int server_spawn(const struct el_nf_session_opts *o, struct server *sv, char *why, size_t wl)
{
	char tmpl[] = "/tmp/echolab-netfuzz.XXXXXX";
	sv->err_fd = mkstemp(tmpl);
	if (sv->err_fd < 0) {
		snprintf(why, wl, "mkstemp: %s", strerror(errno));
		return -errno;
	}
	unlink(tmpl);
	char max_line[32];
	snprintf(max_line, sizeof(max_line), "%zu", o->fuzz.max_line);
	const char *argv[] = {o->server, "--model", o->model, "--port", "0", "--backlog", "1024",
			      "--max-line", max_line, NULL};
	/* The fault suites preload their shim into the server alone. */
	struct el_sup_spec sp = {.argv = argv, .out_fd = -1, .err_fd = sv->err_fd, .setup = preload,
				 .setup_arg = (void *)o->preload, .ready_line = true, .timeout_ms = 20000};
	return el_sup_start(&sv->sup, &sp, why, wl);
}

static int usage(pid_t pid, struct el_nf_usage *u)
{
	struct el_sup_usage su;
	int rc = el_sup_usage(pid, &su);
	if (rc == 0)
		*u = (struct el_nf_usage){su.procs, su.threads, su.fds, su.rss_kib};
	return rc;
}

static void session_fail(struct el_nf_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void session_fail(struct el_nf_session *s, const char *fmt, ...)
{
	if (!s->ok)
		return; /* the first reason is the one to read */
	s->ok = false;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

static bool alive(struct server *sv)
{
	return el_sup_alive(&sv->sup);
}

static void describe_exit(int status, char *out, size_t size)
{
	if (WIFSIGNALED(status))
		snprintf(out, size, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(out, size, "exit status %d", WEXITSTATUS(status));
}

int el_nf_session(const struct el_nf_session_opts *o, struct el_nf_session *s)
{
	memset(s, 0, sizeof(*s));
	s->ok = true;
	s->server_exit = -1;
	struct server sv = {.err_fd = -1};
	int rc = server_spawn(o, &sv, s->why, sizeof(s->why));
	if (rc < 0) {
		s->ok = false;
		if (sv.sup.pid > 0)
			el_sup_stop(&sv.sup, SIGKILL, true, 0, NULL);
		if (sv.err_fd >= 0)
			close(sv.err_fd);
		return rc;
	}
	char text[400], how[128];

	struct el_nf_opts f = o->fuzz;
	f.port = sv.sup.port;
	/* The warm-up: the server's allocator and thread caches reach their
	 * working size, so the baseline after it is the one to come back to. */
	f.duration_s = o->warmup_s;
	f.seed = o->fuzz.seed ^ 0x5eed5eed5eedULL; /* other streams than the run's */
	rc = o->warmup_s > 0 ? el_nf_run(&f, &s->warmup) : 0;
	if (rc < 0)
		session_fail(s, "netfuzz could not run: %s", s->warmup.first);
	else if (s->warmup.failures)
		session_fail(s, "warm-up: %ld connections broke the protocol; the first: %s",
			     s->warmup.failures, s->warmup.first);

	/* The baseline, once the warm-up's connections are gone. */
	int64_t settle = el_io_now_ms() + o->settle_ms;
	struct el_nf_usage prev = {-1, -1, -1, -1};
	while (s->ok && alive(&sv)) {
		if (usage(sv.sup.pid, &s->baseline) < 0) {
			/* Without a baseline the check after the run proves
			 * nothing: that fails the session, never skips it. */
			if (alive(&sv))
				session_fail(s, "cannot read the server's process tree in /proc for the baseline");
			break;
		}
		if ((s->baseline.procs == prev.procs && s->baseline.threads == prev.threads &&
		     s->baseline.fds == prev.fds) ||
		    el_io_now_ms() > settle)
			break;
		prev = s->baseline;
		usleep(200000);
	}

	bool stopped = o->fuzz.stop && *o->fuzz.stop;
	if (s->ok && alive(&sv) && !stopped) {
		f.duration_s = o->fuzz.duration_s;
		f.seed = o->fuzz.seed;
		rc = el_nf_run(&f, &s->run);
		if (rc < 0)
			session_fail(s, "netfuzz could not run: %s", s->run.first);
		else if (s->run.failures)
			session_fail(s, "%ld of %ld connections broke the protocol; the first: %s",
				     s->run.failures, s->run.connections, s->run.first);
	}

	stopped = o->fuzz.stop && *o->fuzz.stop;
	if (!alive(&sv)) {
		describe_exit(sv.sup.status, how, sizeof(how));
		server_stderr(&sv, text, sizeof(text));
		session_fail(s, "the server died (%s): %s", how, text);
	} else if (s->ok && !stopped) {
		/* Back to the baseline, within settle_ms. */
		long rss_limit = s->baseline.rss_kib +
				 (long)((double)s->baseline.rss_kib * o->rss_slack > (double)o->rss_slack_kib
						? (double)s->baseline.rss_kib * o->rss_slack
						: (double)o->rss_slack_kib);
		settle = el_io_now_ms() + o->settle_ms;
		for (;;) {
			if (usage(sv.sup.pid, &s->after) < 0) {
				if (alive(&sv))
					session_fail(s, "cannot read the server's process tree in /proc after the run");
				break;
			}
			bool back = s->after.procs == s->baseline.procs &&
				    s->after.threads == s->baseline.threads &&
				    s->after.fds == s->baseline.fds &&
				    (!o->check_rss || s->after.rss_kib <= rss_limit);
			if (back)
				break;
			if (el_io_now_ms() > settle) {
				session_fail(s,
					     "not back to the baseline %d ms after the last connection: "
					     "processes %ld -> %ld, threads %ld -> %ld, fds %ld -> %ld, "
					     "RSS %ld -> %ld KiB (limit %ld)",
					     o->settle_ms, s->baseline.procs, s->after.procs,
					     s->baseline.threads, s->after.threads, s->baseline.fds,
					     s->after.fds, s->baseline.rss_kib, s->after.rss_kib, rss_limit);
				break;
			}
			usleep(100000);
		}
	}

	/* A clean stop: exit status 0, nothing of its group left. */
	if (alive(&sv)) {
		el_sup_signal(&sv.sup, SIGTERM, false);
		int left = 0;
		int st = el_sup_wait(&sv.sup, o->settle_ms, &left);
		if (st < 0) {
			session_fail(s, "the server did not exit within %d ms of SIGTERM", o->settle_ms);
		} else {
			s->server_exit = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			if (s->server_exit != 0) {
				describe_exit(st, how, sizeof(how));
				server_stderr(&sv, text, sizeof(text));
				session_fail(s, "after SIGTERM the server ended with %s: %s", how, text);
			}
		}
		if (left)
			session_fail(s, "processes of the server's group outlived it");
	}
	close(sv.err_fd);
	return 0;
}
