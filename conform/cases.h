/* What the cases are written with (cases/helpers.c): clients that record what
 * they send and receive in the case's transcript, and checks that fail the
 * case at once with a reason. Internal to conform/. */
#ifndef EL_CONF_CASES_H
#define EL_CONF_CASES_H

#include <stdint.h>
#include <sys/types.h>

#include "client.h"
#include "conform.h"
#include "reply.h"

struct el_conf_client {
	int fd;
	int n;                       /* c1, c2 ... in the transcript */
	char addr[EL_ADDR_STRLEN];   /* as the server should see it */
	unsigned port;
	struct el_lines lines;
	/* This clock (UTC) when the first message not yet answered went: a
	 * reply's TIME lies between it and now, give or take the skew. */
	struct timespec sent_since;
	bool replied;        /* a reply came since the last send */
};

/* Transcript lines; bytes are escaped and cut at 160. */
void cf_note(struct el_conf_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cf_bytes(struct el_conf_ctx *x, const char *who, const void *data, size_t len);
/* End the case: FAIL, or skip, with the reason. */
_Noreturn void cf_fail(struct el_conf_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void cf_skip(struct el_conf_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The case reports a measured behaviour (it goes on). */
void cf_info(struct el_conf_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* ms scaled by how slow this run is; the reply timeout in ms. */
int cf_ms(const struct el_conf_ctx *x, int ms);
int cf_timeout(const struct el_conf_ctx *x);
/* Frees p after the case (at most 8 per case). */
void *cf_keep(struct el_conf_ctx *x, void *p);

/* Connects (failing the case if it cannot); cf_try_open returns NULL with
 * the reason instead. Clients are closed by the runner after the case. */
struct el_conf_client *cf_open(struct el_conf_ctx *x);
struct el_conf_client *cf_try_open(struct el_conf_ctx *x, char *err, size_t errlen);
void cf_send(struct el_conf_ctx *x, struct el_conf_client *c, const void *data, size_t len);
void cf_send_str(struct el_conf_ctx *x, struct el_conf_client *c, const char *text);
/* The next line (with its LF): its length, 0 at EOF, -ETIMEDOUT or
 * -errno; cf_line fails the case unless a line came. */
ssize_t cf_try_line(struct el_conf_ctx *x, struct el_conf_client *c, const uint8_t **line, int timeout_ms);
size_t cf_line(struct el_conf_ctx *x, struct el_conf_client *c, const uint8_t **line);
/* The next line is the echo of msg for this client: the MSG byte for
 * byte, its address and port, TIME within the allowed skew. */
void cf_expect_echo(struct el_conf_ctx *x, struct el_conf_client *c, const void *msg, size_t len);
void cf_expect_echo_str(struct el_conf_ctx *x, struct el_conf_client *c, const char *msg);
/* The next line is exactly want (with its LF). */
void cf_expect_line(struct el_conf_ctx *x, struct el_conf_client *c, const char *want);
/* The server closes with a FIN, nothing more to read, within timeout_ms. */
void cf_expect_eof(struct el_conf_ctx *x, struct el_conf_client *c, int timeout_ms);
/* Raw mode: the next len bytes are want. */
void cf_expect_bytes(struct el_conf_ctx *x, struct el_conf_client *c, const void *want, size_t len);
/* msg answered, in the graded mode. */
void cf_roundtrip(struct el_conf_ctx *x, struct el_conf_client *c, const char *msg);
void cf_half_close(struct el_conf_ctx *x, struct el_conf_client *c);
void cf_reset(struct el_conf_ctx *x, struct el_conf_client *c);
void cf_close(struct el_conf_ctx *x, struct el_conf_client *c);
/* A new client is served (the end of every robust case). */
void cf_fresh_client_served(struct el_conf_ctx *x);
/* What the server has written on its standard output so far, NUL
 * added, its length in *len (a case that needs EL_CONF_LOG: an instance
 * of its own whose output the runner keeps). malloc'd: free it. */
char *cf_server_log(struct el_conf_ctx *x, size_t *len);
/* The runner's, after a case: closes and frees a client. */
void el_conf_client_free(struct el_conf_client *c);
/* Whether a second client gets its reply while the first stays
 * connected (cases/conc.c): the cases that load a server size their load
 * by it. */
bool cf_serves_two_at_once(struct el_conf_ctx *x);
/* Sleeps ms milliseconds (signals do not cut it short). */
void cf_sleep_ms(int ms);

/* The cases: el_case_<function> for every row of cases/cases.def. */
#define CASE(fn, ...) void el_case_##fn(struct el_conf_ctx *x);
#include "cases/cases.def"
#undef CASE

#endif
