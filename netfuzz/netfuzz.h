/* The network fuzzer: many client connections at once, each sending a
 * random byte stream (messages of every kind, split at random points,
 * CR/LF placed at random, lines over --max-line, NULs, floods) and ending
 * in a FIN, an RST, or a close with replies unread. Everything the server
 * sends back is checked against docs/protocol.md as it arrives: each
 * complete message gets exactly one reply, in order, byte-exact, or
 * "! line-too-long N". The streams are drawn from one seed: the same seed
 * gives the same streams and split points (the timing is the machine's).
 *
 * el_nf_session adds the server: it starts echolab-server, fuzzes it once
 * to warm up, takes its process tree's figures as the baseline, fuzzes it
 * again, and checks that the server is alive and back to the baseline
 * (processes, threads, fds, RSS) once the connections are closed, and that
 * it stops cleanly. */
#ifndef EL_NETFUZZ_H
#define EL_NETFUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

struct el_nf_opts {
	const char *host;       /* default 127.0.0.1 */
	unsigned port;
	uint64_t seed;
	double duration_s;      /* no new connection after this (0: none) */
	long connections;       /* at most this many in all (0: no limit) */
	long only;              /* >= 0: replay this connection alone */
	int parallel;           /* connections open at once */
	size_t max_line;        /* the server's --max-line */
	int stall_ms;           /* a connection with no progress this long fails */
	/* The command that reruns this run, its --seed and --conn aside
	 * ("echolab-netfuzz --port 41234"): a failure's replay is it with
	 * them. NULL: the two flags alone. */
	const char *replay;
	FILE *progress;         /* a line per second, or NULL */
	/* Set (by a signal handler) to end the run early: the connections
	 * still open are reset, and a session stops its server at once. */
	volatile sig_atomic_t *stop;
};

struct el_nf_result {
	long connections;  /* finished, each checked */
	long fin, fin_partial, reset, unread; /* by how they ended */
	long messages;     /* complete messages sent */
	long replies;      /* reply lines checked (echo or error) */
	long too_long;     /* of which "! line-too-long" */
	uint64_t bytes_sent, bytes_received;
	long failures;     /* connections that broke the protocol */
	char first[768];   /* what the first failure was, with how to replay it */
};

/* Fills o with the defaults. */
void el_nf_defaults(struct el_nf_opts *o);

/* Runs the fuzzer against a running server. Returns 0 when it ran (the
 * verdict is in r->failures), or -errno when it could not run at all (bad
 * host, out of fds), with the reason in r->first. */
int el_nf_run(const struct el_nf_opts *o, struct el_nf_result *r);

/* Figures of a server's process tree. */
struct el_nf_usage {
	long procs, threads, fds, rss_kib;
};

struct el_nf_session_opts {
	const char *server;   /* path of echolab-server */
	const char *model;
	const char *preload;  /* LD_PRELOAD for the server, or NULL */
	double warmup_s;      /* the first run, before the baseline */
	bool check_rss;       /* false: RSS is reported, not checked */
	double rss_slack;     /* RSS may end this fraction above the baseline */
	long rss_slack_kib;   /* ... or this many KiB, whichever is more */
	int settle_ms;        /* how long figures may take to come back */
	struct el_nf_opts fuzz;
};

struct el_nf_session {
	struct el_nf_result warmup, run;
	struct el_nf_usage baseline, after;
	long server_exit;     /* its exit status after SIGTERM (-1: none) */
	bool ok;
	char why[1024];       /* what failed, when !ok */
};

void el_nf_session_defaults(struct el_nf_session_opts *o);

/* Starts the server with --model, --port 0, --max-line and its log to
 * /dev/null, runs the warm-up and the main run, checks the server as the
 * header comment says, and stops it. Returns 0 when the session ran
 * (s->ok is the verdict) or -errno when the server could not start
 * (-EOPNOTSUPP: the system cannot run this model; s->why says why). */
int el_nf_session(const struct el_nf_session_opts *o, struct el_nf_session *s);

#endif
