/* The network fuzzer's parts (private to netfuzz/): the streams a
 * connection sends (stream.c), the replies the protocol calls for
 * (reference.c), the checks of what comes back (check.c), the client loop
 * (run.c) and the server supervised through a session (session.c). */
#ifndef EL_NF_FUZZ_H
#define EL_NF_FUZZ_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "netfuzz.h"

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

/* splitmix64: the next number of state. */
uint64_t nf_mix(uint64_t *state);
/* A connection's own seed, from the run's seed and its index. */
uint64_t nf_conn_seed(uint64_t seed, long index);
/* A number in 0..n-1 (0 when n is 0). */
size_t nf_below(uint64_t *rng, size_t n);
/* Appends n bytes to b. Returns 0 or -ENOMEM. */
int nf_buf_put(struct buf *b, const void *p, size_t n);
/* Draws c's stream (messages, terminators, ending, where it stops) from
 * c->rng and the replies it calls for. Returns 0 or -ENOMEM. */
int nf_gen_stream(struct conn *c, size_t max_line);
/* The replies c's stream calls for, into c->items (nitems 0 and items
 * NULL when out of memory). eof: the stream ends with FIN. */
void nf_gen_items(struct conn *c, size_t max_line, bool eof);
/* bytes as C-escaped text, at most max bytes of them, into out. */
void nf_show(char *out, size_t size, const uint8_t *p, size_t n, size_t max);
/* Records that connection c broke the protocol, and ends it. */
__attribute__((format(printf, 3, 4))) void nf_fail(struct fuzz *f, struct conn *c, const char *fmt, ...);
/* Takes received bytes apart into lines and checks each. Returns false
 * after nf_fail. */
bool nf_received(struct fuzz *f, struct conn *c, const uint8_t *p, size_t n);
/* Ends c: an RST with reset, else a close; its slot freed. */
void nf_conn_close(struct fuzz *f, struct conn *c, bool reset);

#endif
