/* The connection core: one client connection's protocol state, shared by
 * every server model. It turns input bytes into replies in an output
 * buffer and log lines; the model decides when to read and write. */
#ifndef EL_CONN_H
#define EL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "framer.h"
#include "reply.h"
#include "server.h"

/* Past this many unsent bytes a connection stops consuming input until the
 * client reads (docs/protocol.md, "Closing"). The fuzz build lowers it, so
 * that its small inputs reach the backpressure paths. */
#ifndef EL_CONN_OUT_HIGH
#define EL_CONN_OUT_HIGH (1024 * 1024)
#endif
/* The size of one read from a client. */
#define EL_CONN_READ_SIZE (16 * 1024)

/* Why a connection ended, for the log. */
enum el_conn_end {
	EL_CONN_END_EOF,
	EL_CONN_END_RESET,
	EL_CONN_END_IDLE,
	EL_CONN_END_SHUTDOWN,
	EL_CONN_END_ERROR,
};

struct el_conn {
	struct el_srv *srv;
	int fd;
	struct el_framer framer;
	struct el_reply_peer peer;
	uint8_t *out; /* pending output: out[out_off .. out_len) */
	size_t out_off, out_len, out_cap;
	size_t out_held; /* taken by el_conn_take_output, not yet written */
	uint8_t *log; /* scratch for one log line */
	size_t log_cap;
	time_t clock_sec; /* the second clock_text was made for */
	char clock_text[EL_TIME_LEN + 1];
	uint8_t *in; /* unconsumed input of the non-blocking models */
	size_t in_off, in_len;
	uint64_t messages;
	int64_t last_active_ms; /* CLOCK_MONOTONIC of the last byte in or out */
	struct el_conn *older, *newer; /* an el_conn_lru's order */
	bool eof;               /* the client half-closed and that was handled */
	bool failed;            /* out of memory: close the connection */
	/* An event loop's end of it (loop.h): ended, and why, kept until
	 * the connection is freed. */
	bool ended;
	enum el_conn_end end;
	int end_err;
};

/* Sets up c for the accepted fd and logs "# open". Returns 0, or -ENOMEM
 * or -EAFNOSUPPORT: then fd is closed, the log says "# refused" and why
 * (never a "# close" for a connection that did not open), and c needs no
 * el_conn_finish. */
int el_conn_init(struct el_conn *c, struct el_srv *srv, int fd, const struct sockaddr *peer);

/* Logs "# close" with the reason (err: -errno of an error end, else 0),
 * closes the fd and frees everything. */
void el_conn_finish(struct el_conn *c, enum el_conn_end end, int err);

/* Records that bytes just arrived: the TIME of every message completed by
 * them, and the idle clock. Call once after each successful read. */
void el_conn_stamp(struct el_conn *c);

/* Consumes input bytes into replies (or, with --raw, copies them) until all
 * are consumed or the output holds EL_CONN_OUT_HIGH bytes. Returns the
 * bytes consumed: the rest must be offered again once output drains. */
size_t el_conn_input(struct el_conn *c, const uint8_t *data, size_t len);

/* The client half-closed: answers a final unterminated message. */
void el_conn_input_eof(struct el_conn *c);

/* Bytes of output not yet written. */
static inline size_t el_conn_pending(const struct el_conn *c)
{
	return c->out_len - c->out_off;
}

/* For a model whose writes complete later (io_uring), which must not see
 * the bytes of a write in flight move: hands the pending output over by
 * swapping buffers with the caller (*buf, of *cap bytes, may be NULL; it
 * gets the core's buffer and the core gets it, so nothing is copied). The
 * bytes are then (*buf)[*off .. *off + return value) and count as held:
 * still unsent, for the 1 MiB bound, until el_conn_held_sent. */
size_t el_conn_take_output(struct el_conn *c, uint8_t **buf, size_t *cap, size_t *off);
/* n held bytes were written. */
void el_conn_held_sent(struct el_conn *c, size_t n);

/* Like el_conn_input, but what is not consumed now (the output is full)
 * is kept in c->in, to be offered again by el_conn_input_resume. len must
 * be at most EL_CONN_READ_SIZE and nothing may be kept already. Returns
 * 0, or -ENOMEM (c->failed is then set). */
int el_conn_input_hold(struct el_conn *c, const uint8_t *data, size_t len);

/* Offers the kept input again. Returns true when none is left. */
bool el_conn_input_resume(struct el_conn *c);

/* How a connection ended after a read or write failed with err (-errno):
 * a reset (ECONNRESET, EPIPE, ETIMEDOUT) or an error. */
enum el_conn_end el_conn_end_of_errno(long err);

/* One non-blocking or blocking write of pending output. Returns the bytes
 * written, or -errno (-EAGAIN: try when writable). */
long el_conn_write(struct el_conn *c);

/* What a non-blocking connection waits for next. */
enum { EL_CONN_WANT_READ = 1, EL_CONN_WANT_WRITE = 2 };

/* One turn of a non-blocking connection: reads what has arrived (a bounded
 * number of reads, so connections sharing a thread take turns), answers,
 * and writes what the socket takes. Returns a mask of EL_CONN_WANT_*, or 0
 * when the connection has ended (*end and *err, -errno or 0, say why; then
 * call el_conn_finish with them). */
int el_conn_pump(struct el_conn *c, enum el_conn_end *end, int *err);

/* The server is stopping: answers what has been read, sends what is
 * pending (both until deadline_ms), then el_conn_finish. */
void el_conn_stop(struct el_conn *c, int64_t deadline_ms);

/* Connections in order of last activity, for idle timeouts in O(1) per
 * event: with one timeout for all, the oldest is the next to expire. */
struct el_conn_lru {
	struct el_conn *oldest, *newest;
};
/* Appends c as the newest. */
void el_conn_lru_push(struct el_conn_lru *l, struct el_conn *c);
void el_conn_lru_remove(struct el_conn_lru *l, struct el_conn *c);
/* Moves c to the newest end if it was active since active_before (its
 * last_active_ms before the turn). */
void el_conn_lru_touch(struct el_conn_lru *l, struct el_conn *c, int64_t active_before);
/* The idle timeout (--idle-timeout), for every model: when c's idle time
 * is up (CLOCK_MONOTONIC ms), or -1 without a timeout; whether it is up
 * at now. */
int64_t el_conn_idle_deadline(const struct el_conn *c);
bool el_conn_idle_expired(const struct el_conn *c, int64_t now);
/* The idle deadline of the oldest, or -1 with no timeout or no
 * connection; the oldest if its idle time is up at now, else NULL. */
int64_t el_conn_lru_deadline(const struct el_conn_lru *l);
struct el_conn *el_conn_lru_expired(const struct el_conn_lru *l, int64_t now);

/* For the blocking models: something besides the client to watch while
 * serving it (the iterative model's listening socket). */
struct el_conn_watch {
	int fd;                /* -1: nothing */
	int64_t paused_until;  /* CLOCK_MONOTONIC ms before which fd is ignored */
	void (*ready)(struct el_conn_watch *w);
};

/* Serves c on a blocking socket to the end: read, reply, write, with the
 * idle timeout and the stop signal, then el_conn_finish. The watch may be
 * NULL. */
void el_conn_serve_blocking(struct el_conn *c, struct el_conn_watch *watch);

#endif
