/* libFuzzer target over the connection core (servers/conn.c): one client
 * connection fed through the same calls the models make, with a socketpair
 * as the client, checked against a reference model of docs/protocol.md
 * written here from the text, not from the framer.
 *
 * Input: a header, then the client's byte stream.
 *   byte 0   max-line, 1 + b % 48 (short, so over-long lines are common)
 *   byte 1   bits 0-1: the path (blocking models: el_conn_input and
 *            el_conn_write; event models: el_conn_pump over the socket;
 *            io_uring: el_conn_input_hold, el_conn_take_output and partial
 *            el_conn_held_sent); bits 2-4: raw mode when 0; bit 5: no EOF
 *            at the end; bits 6-7: the peer (IPv4, IPv6, IPv4-mapped)
 *   byte 2   n, 0..7, then n bytes: chunk sizes and when to drain (cycled)
 * Checked:
 * - annotated mode: the output is exactly one reply per message of the
 *   stream, in order: "[TIME] [ADDR] [PORT] [MSG]\n" with MSG byte-exact, or
 *   "! line-too-long N\n"; a final unterminated message only after EOF;
 * - raw mode: the output is the input;
 * - every log line is printable ASCII: a message cannot forge one;
 * - nothing leaks (LeakSanitizer) and nothing reads out of bounds (ASan).
 *
 * The fuzz build lowers EL_CONN_OUT_HIGH (meson.build) so that the
 * backpressure paths (input kept while the output is full) run too. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "io.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum path { PATH_BLOCKING, PATH_PUMP, PATH_URING };

struct bytes {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert(b->p);
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

struct run {
	struct el_srv srv;
	struct el_conn conn;
	int client; /* the client's end of the socketpair */
	struct bytes out;  /* everything the client received */
	/* io_uring path: the buffer handed over, as a write in flight. */
	uint8_t *held;
	size_t held_cap, held_off, held_len;
};

/* The client reads whatever has arrived. */
static void client_read(struct run *r)
{
	uint8_t buf[4096];
	for (;;) {
		ssize_t n = recv(r->client, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0) {
			assert(n == 0 || errno == EAGAIN);
			return;
		}
		put(&r->out, buf, (size_t)n);
	}
}

/* Writes the core's pending output to the socket and the client reads it. */
static void drain_socket(struct run *r)
{
	while (el_conn_pending(&r->conn) > 0) {
		long n = el_conn_write(&r->conn);
		assert(n > 0 || n == -EAGAIN);
		client_read(r);
	}
	client_read(r);
}

/* io_uring path: completes `part` bytes of the write in flight (all when
 * part is 0), then takes the next batch of output if none is in flight. */
static void drain_held(struct run *r, size_t part)
{
	if (r->held_len > 0) {
		size_t n = part && part < r->held_len ? part : r->held_len;
		put(&r->out, r->held + r->held_off, n);
		r->held_off += n;
		r->held_len -= n;
		el_conn_held_sent(&r->conn, n);
	}
	if (r->held_len == 0 && el_conn_pending(&r->conn) > 0)
		r->held_len = el_conn_take_output(&r->conn, &r->held, &r->held_cap, &r->held_off);
}

static void feed(struct run *r, enum path path, const uint8_t *p, size_t n, uint8_t ctl)
{
	switch (path) {
	case PATH_BLOCKING:
		/* As el_conn_serve_blocking: offer, write, offer the rest. */
		el_conn_stamp(&r->conn);
		while (n > 0) {
			size_t used = el_conn_input(&r->conn, p, n);
			p += used;
			n -= used;
			if (n > 0 || (ctl & 1))
				drain_socket(r);
		}
		break;
	case PATH_PUMP: {
		/* As the event models: the bytes cross the socket. */
		ssize_t w = send(r->client, p, n, 0);
		assert(w == (ssize_t)n);
		enum el_conn_end end;
		int err;
		int want;
		do {
			want = el_conn_pump(&r->conn, &end, &err);
			assert(want != 0);
			client_read(r);
		} while (want & EL_CONN_WANT_WRITE);
		break;
	}
	case PATH_URING:
		/* As the io_uring model: a read completes, what the output cannot
		 * take is kept, writes complete in parts. */
		el_conn_stamp(&r->conn);
		assert(el_conn_input_hold(&r->conn, p, n) == 0);
		while (!el_conn_input_resume(&r->conn) || (ctl & 1)) {
			drain_held(r, ctl >> 1);
			if (r->held_len == 0 && el_conn_pending(&r->conn) == 0 &&
			    r->conn.in_off == r->conn.in_len)
				break;
		}
		break;
	}
}

static void finish_input(struct run *r, enum path path, bool eof)
{
	if (path == PATH_PUMP) {
		if (eof)
			shutdown(r->client, SHUT_WR);
		enum el_conn_end end = EL_CONN_END_ERROR;
		int err = -1;
		for (int turns = 0; turns < 1000; turns++) {
			int want = el_conn_pump(&r->conn, &end, &err);
			client_read(r);
			if (want == 0)
				break;
			if (!eof && !(want & EL_CONN_WANT_WRITE))
				break;
		}
		if (eof)
			assert(end == EL_CONN_END_EOF && err == 0);
		return;
	}
	if (path == PATH_URING) {
		while (!el_conn_input_resume(&r->conn) || r->held_len || el_conn_pending(&r->conn))
			drain_held(r, 0);
	} else {
		drain_socket(r);
	}
	if (!eof)
		return;
	el_conn_input_eof(&r->conn);
	if (path == PATH_URING)
		while (r->held_len || el_conn_pending(&r->conn))
			drain_held(r, 0);
	else
		drain_socket(r);
}

/* The reference: the replies docs/protocol.md and docs/decisions.md 1-5
 * require for this stream, compared with what the client received. */
static void check_annotated(const struct bytes *out, const uint8_t *in, size_t len, size_t max_line,
			    bool eof, const char *addr)
{
	char too_long[64];
	int tl = snprintf(too_long, sizeof(too_long), "! line-too-long %zu\n", max_line);
	char fields[96];
	int fl = snprintf(fields, sizeof(fields), "] [%s] [4242] [", addr);
	size_t o = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		bool end_of_line = i < len && in[i] == '\n';
		bool final = i == len && eof && i > start;
		size_t mlen = i - start;
		if (i == len && !final) {
			/* A partial line is answered before its LF only when it is
			 * known to be too long: past max-line + 1 bytes, or at
			 * max-line + 1 when its last byte is not a CR that the LF
			 * may follow (decision 1). */
			if (mlen > max_line + 1 || (mlen == max_line + 1 && in[i - 1] != '\r')) {
				assert(o + (size_t)tl <= out->len);
				assert(memcmp(out->p + o, too_long, (size_t)tl) == 0);
				o += (size_t)tl;
			}
			break;
		}
		if (!end_of_line && !final)
			continue;
		if (end_of_line && mlen > 0 && in[i - 1] == '\r')
			mlen--;
		if (mlen > max_line) {
			assert(o + (size_t)tl <= out->len);
			assert(memcmp(out->p + o, too_long, (size_t)tl) == 0);
			o += (size_t)tl;
		} else {
			/* [YYYY-MM-DDTHH:MM:SS.ffffffZ] [ADDR] [4242] [MSG]\n */
			size_t need = 1 + 27 + (size_t)fl + mlen + 2;
			assert(o + need <= out->len);
			const uint8_t *l = out->p + o;
			assert(l[0] == '[');
			static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
			for (int k = 0; k < 27; k++)
				assert(shape[k] == 'd' ? (l[1 + k] >= '0' && l[1 + k] <= '9')
						       : l[1 + k] == shape[k]);
			assert(memcmp(l + 28, fields, (size_t)fl) == 0);
			assert(memcmp(l + 28 + fl, in + start, mlen) == 0);
			assert(l[need - 2] == ']' && l[need - 1] == '\n');
			o += need;
		}
		start = i + 1;
	}
	/* Nothing more: no reply to a partial line without EOF, none twice. */
	assert(o == out->len);
}

static void check_log(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	assert(size >= 0);
	uint8_t *log = malloc((size_t)size + 1);
	assert(pread(fd, log, (size_t)size, 0) == size);
	for (off_t i = 0; i < size; i++)
		assert(log[i] == '\n' || (log[i] >= 0x20 && log[i] <= 0x7e));
	assert(size == 0 || log[size - 1] == '\n');
	free(log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	size_t max_line = 1 + data[0] % 48;
	enum path path = (enum path)(data[1] & 3);
	if (path > PATH_URING)
		path = PATH_BLOCKING;
	bool raw = ((data[1] >> 2) & 7) == 0;
	bool eof = !(data[1] & 0x20);
	int peer_kind = data[1] >> 6;
	size_t nctl = data[2] % 8;
	if (size < 3 + nctl)
		return 0;
	const uint8_t *ctl = data + 3;
	const uint8_t *in = data + 3 + nctl;
	size_t len = size - 3 - nctl;

	struct sockaddr_storage ss = {0};
	const char *addr = "192.0.2.7";
	if (peer_kind == 1 || peer_kind == 2) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(4242);
		inet_pton(AF_INET6, peer_kind == 1 ? "2001:db8::7" : "::ffff:192.0.2.7", &s6->sin6_addr);
		if (peer_kind == 1)
			addr = "2001:db8::7";
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(4242);
		inet_pton(AF_INET, "192.0.2.7", &s4->sin_addr);
	}

	struct run *r = calloc(1, sizeof(*r));
	assert(r);
	r->srv.cfg.max_line = max_line;
	r->srv.cfg.raw = raw;
	r->srv.listen_fd = r->srv.stop_fd = r->srv.stop_wfd = -1;
	r->srv.log_fd = memfd_create("fuzz-conn-log", MFD_CLOEXEC);
	assert(r->srv.log_fd >= 0);
	int sv[2];
	assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	r->client = sv[1];
	assert(el_conn_init(&r->conn, &r->srv, sv[0], (struct sockaddr *)&ss) == 0);
	el_io_set_nonblock(sv[0], true);

	size_t off = 0, k = 0;
	while (off < len) {
		uint8_t c = nctl ? ctl[k++ % nctl] : 0xff;
		size_t n = c == 0xff ? len - off : 1 + (size_t)(c % 64);
		if (n > len - off)
			n = len - off;
		if (n > EL_CONN_READ_SIZE)
			n = EL_CONN_READ_SIZE;
		feed(r, path, in + off, n, c);
		off += n;
	}
	finish_input(r, path, eof);
	assert(!r->conn.failed);

	if (raw)
		assert(r->out.len == len && (len == 0 || memcmp(r->out.p, in, len) == 0));
	else
		check_annotated(&r->out, in, len, max_line, eof, addr);
	check_log(r->srv.log_fd);

	el_conn_finish(&r->conn, EL_CONN_END_EOF, 0);
	close(r->client);
	close(r->srv.log_fd);
	free(r->held);
	free(r->out.p);
	free(r);
	return 0;
}
