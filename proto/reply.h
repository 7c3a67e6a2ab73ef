/* Reply lines of the echolab protocol (docs/protocol.md):
 *
 *     [TIME] [ADDR] [PORT] [MSG]\n
 *
 * The formatter (servers), its inverse the parser (clients and tests), the
 * pieces they are made of (time, address) and the log's escaping. */
#ifndef EL_REPLY_H
#define EL_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

/* "2026-11-23T22:34:05.971296Z" */
#define EL_TIME_LEN 27
/* Longest address text: an IPv6 address with IPv4-looking groups, + NUL. */
#define EL_ADDR_STRLEN 46
/* "] [" ADDR "] [" PORT "] [" */
#define EL_PEER_MAXLEN (3 + EL_ADDR_STRLEN + 3 + 5 + 3)

/* Writes ts as RFC 3339 UTC with microseconds into out (EL_TIME_LEN bytes
 * and a NUL). Returns 0, or -EOVERFLOW for a year outside 0..9999. */
int el_time_format(const struct timespec *ts, char out[EL_TIME_LEN + 1]);

/* Parses exactly EL_TIME_LEN bytes of that form. Returns 0 or -EINVAL. */
int el_time_parse(const char *text, size_t len, struct timespec *ts);

/* Writes the RFC 5952 text of a 16-byte IPv6 address (lowercase, no leading
 * zeros, the longest run of two or more zero groups as "::", the first on a
 * tie). Returns its length; out holds EL_ADDR_STRLEN bytes. */
size_t el_addr_format_ipv6(const uint8_t addr[16], char out[EL_ADDR_STRLEN]);

/* Writes the protocol's text of sa's address (an IPv4-mapped IPv6 address
 * as plain IPv4) and sets *port. Returns its length, or -EAFNOSUPPORT. */
int el_addr_format(const struct sockaddr *sa, char out[EL_ADDR_STRLEN], unsigned *port);

/* The part of a reply that depends only on the connection, formatted once:
 * "] [ADDR] [PORT] [". */
struct el_reply_peer {
	char text[EL_PEER_MAXLEN + 1];
	size_t len;
	char addr[EL_ADDR_STRLEN];
	unsigned port;
};

/* Returns 0, or -EAFNOSUPPORT for a socket address that is not IP. */
int el_reply_peer_init(struct el_reply_peer *p, const struct sockaddr *sa);

/* Bytes of a reply to a message of msg_len bytes, LF included. */
size_t el_reply_size(const struct el_reply_peer *p, size_t msg_len);

/* Writes the reply line into out, which holds el_reply_size(p, msg_len)
 * bytes. Returns the bytes written. */
size_t el_reply_write(uint8_t *out, const char time[EL_TIME_LEN], const struct el_reply_peer *p,
		      const uint8_t *msg, size_t msg_len);

/* Writes the log's form of the reply: MSG escaped as el_escape does. out
 * holds el_reply_size(p, EL_ESCAPE_MAX(msg_len)) bytes. Returns the bytes
 * written. */
size_t el_reply_write_log(uint8_t *out, const char time[EL_TIME_LEN], const struct el_reply_peer *p,
			  const uint8_t *msg, size_t msg_len);

#define EL_ESCAPE_MAX(n) ((n) * 4)

/* Writes in[0..len) with bytes outside 0x20..0x7E as \xhh (lowercase) and a
 * backslash as \\. out holds EL_ESCAPE_MAX(len) bytes. Returns the bytes
 * written. */
size_t el_escape(char *out, const uint8_t *in, size_t len);

/* Parser error codes, all negative. */
enum el_reply_error {
	EL_REPLY_ESHAPE = -1,  /* not "[..] [..] [..] [..]" with single spaces */
	EL_REPLY_ETIME = -2,   /* TIME is not RFC 3339 UTC with microseconds */
	EL_REPLY_EADDR = -3,   /* ADDR is not an IPv4 or IPv6 address */
	EL_REPLY_EPORT = -4,   /* PORT is not a decimal 0..65535 */
	EL_REPLY_ESERVER = -5, /* an error line from the server ("! ...") */
};

struct el_reply {
	struct timespec time;
	char addr[EL_ADDR_STRLEN];
	unsigned port;
	const uint8_t *msg; /* points into the parsed line */
	size_t msg_len;
};

/* Parses one reply line, with or without its final LF. MSG is everything
 * between the fourth '[' and the last ']'. Returns 0 or an el_reply_error. */
int el_reply_parse(const uint8_t *line, size_t len, struct el_reply *r);

/* What an error line says. */
enum el_reply_kind {
	EL_REPLY_LINE_TOO_LONG = 1, /* "! line-too-long N", *limit = N */
	EL_REPLY_BUSY = 2,          /* "! busy" */
};

/* Parses a server error line, with or without its LF. Returns an
 * el_reply_kind, or EL_REPLY_ESHAPE for anything else. */
int el_reply_parse_error(const uint8_t *line, size_t len, unsigned long *limit);

/* A one-line description of an el_reply_error. */
const char *el_reply_strerror(int code);

#endif
