/* The load engine of echolab-load and echolab-bench: N connections over
 * worker event loops (epoll), each sending a fixed message and checking
 * every reply, closed loop (one message in flight) or open loop (a fixed
 * rate, latency from the intended send time), with RTTs in a histogram. */
#ifndef EL_LOAD_H
#define EL_LOAD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "stats.h"

enum el_load_error {
	EL_LOAD_REFUSED, /* connect(2) refused */
	EL_LOAD_CONNECT, /* connect(2) failed otherwise or timed out */
	EL_LOAD_RESET,   /* reset, or closed by the server with replies due */
	EL_LOAD_TIMEOUT, /* no reply within the timeout */
	EL_LOAD_WRONG,   /* a reply that does not parse or echo the message */
	EL_LOAD_BUSY,    /* the server answered "! busy" */
	EL_LOAD_NERRORS
};

/* Names for reports: "refused", "connect", "reset", "timeout", "wrong",
 * "busy". */
const char *el_load_error_name(int kind);

struct el_load_cfg {
	const char *host;
	unsigned port;
	long conns;          /* 1 .. EL_LOAD_MAX_CONNS */
	int threads;         /* event loops; with spawn or processes, ignored */
	bool spawn;          /* one process per connection */
	/* The connections over this many processes, one event loop each
	 * (its share, as the threads share them), their figures in shared
	 * memory and merged as the threads' are; 0: threads. Each process
	 * has its own fd limit. */
	int processes;
	bool pin;            /* event loop i on the i-th CPU the process may use */
	double connect_rate; /* connections opened per second; 0: all at once */
	const uint8_t *msg;  /* the message, without its LF */
	size_t msg_len;
	bool raw;            /* the server echoes bytes (--raw) */
	double warmup_s;     /* excluded from the figures */
	double duration_s;   /* measured time; 0: until count */
	long count;          /* messages per connection; 0: until duration */
	double rate;         /* messages/s per connection; 0: closed loop */
	/* Open loop: every connection's sends 1/rate apart (fixed, phases
	 * spread over one gap), or Poisson arrivals (exponential gaps of mean
	 * 1/rate, each connection its own stream from seed). */
	bool poisson;
	uint64_t seed;
	/* Fixed arrivals in bursts: this many messages due together every
	 * burst/rate seconds, written at once (0 or 1: none). */
	int burst;
	/* Closed loop: sessions of this many messages; each connection
	 * closes after them and connects again (the cost of a connection).
	 * 0: one connection for the whole run. */
	long session;
	int timeout_ms;      /* for a reply and for a connect */
	int rtt_log_fd;      /* -1, or where conn,seq,t_send_us,rtt_us rows go */
	bool rtt_log_all;    /* every connection's RTTs, not only the first's */
	volatile sig_atomic_t *stop; /* set by a signal handler: end now */
	/* Source addresses, dealt to the connections in turn (NULL: the
	 * kernel's choice): each has its own ~28k ephemeral ports. */
	const struct sockaddr_storage *binds;
	int nbinds;
	double start_at_unix; /* > 0: the warm-up starts at this wall-clock time */
	/* This instance's share (--segment I/N), for the reports; conns is
	 * already the share. seg_count 0: not a segment. */
	int seg_index, seg_count;
	const char *seg_from; /* "--segment", or the launcher's variable */
};

#define EL_LOAD_MAX_CONNS 200000
#define EL_LOAD_GAP_SAMPLE 4096 /* gaps kept per worker for the fit */

/* What one worker (a thread, or a process with spawn) measured. */
struct el_load_shard {
	struct el_hist hist;  /* RTTs in microseconds inside the window */
	uint64_t messages;    /* replies inside the window */
	uint64_t replies;     /* every checked reply, warm-up included */
	uint64_t errors[EL_LOAD_NERRORS];
	long up;              /* connections established now */
	long reached;         /* connections the server answered at least once */
	long settled;         /* connections answered or failed at least once */
	int64_t last_reply_us;
	/* Open loop, the window's sends: how late the generator was against
	 * each one's schedule (us), how many were later than a tenth of the
	 * gap, how many went early (fixed arrivals: within the same bound),
	 * and how many came due and were never written (the connection down,
	 * or still unwritten at the end). */
	struct el_hist late;
	uint64_t late_sends, early_sends, unsent;
	uint64_t scheduled;   /* sends the generator came to in the window */
	/* Sessions: the window's connects, from connect(2) to established
	 * and to the session's first reply (us), and the sessions ended. */
	struct el_hist connect, first_reply;
	uint64_t sessions;
	/* Open loop: a sample of the actual gaps (us) between a
	 * connection's sends in the window, for the arrivals' fit. */
	uint32_t ngaps;
	uint64_t gaps_seen;
	double gaps[EL_LOAD_GAP_SAMPLE];
	int done;             /* the worker has finished */
};

#define EL_LOAD_MAX_REASONS 4

struct el_load_result {
	struct el_hist hist;
	uint64_t messages, replies, errors_total;
	uint64_t errors[EL_LOAD_NERRORS];
	double window_s;      /* the measured time */
	long up;
	long reached;         /* connections answered at least once */
	long ready;           /* answered before the measurement began (a gated
			       * run, see el_load_run); -1 for a run without
			       * the gate */
	double window_start_unix; /* the window's start, wall clock */
	double start_late_s;      /* how much later than start_at_unix it began */
	struct el_hist late;      /* open loop: the sends' lateness, us */
	uint64_t late_sends, early_sends, unsent;
	uint64_t scheduled;       /* open loop: sends come to in the window */
	struct el_hist connect, first_reply; /* sessions: see the shard */
	uint64_t sessions;
	double offered;           /* open loop: msgs/s asked for; 0: closed */
	/* Open loop: Anderson-Darling of the actual send gaps against the
	 * intended exponential (Poisson arrivals); fit_n 0: none. */
	size_t fit_n;
	double fit_a2, fit_p, fit_resolution_us;
	double sent_per_s;        /* open loop: scheduled / window: what the
				   * generator kept up with, whatever the
				   * server did */
	/* Did the generator, not the server, shape the run? Invalid when it
	 * reached fewer connections than asked, came to under 95% of the
	 * offered sends, or sent late (p99 over a tenth of the gap); each
	 * reason one short line. A run with no server at all (every connect
	 * refused, el_load_no_server) measured nothing: invalid too, with the
	 * one reason "no connection was accepted". Set by el_load_result (not
	 * live). */
	bool valid;
	int nreasons;
	char reasons[EL_LOAD_MAX_REASONS][96];
	/* Set by the caller: the run in intervals, written into the JSON
	 * summary when not NULL. */
	const struct el_intervals *intervals;
	/* Set by the caller: the latency probe's own result (--probe), written
	 * into the JSON summary when not NULL. */
	const struct el_load_result *probe;
	double probe_rate;
};

struct el_intervals;

struct el_load;

/* Resolves the host and allocates the workers' shards. Returns NULL with a
 * one-line reason in err. */
struct el_load *el_load_create(const struct el_load_cfg *cfg, char *err, size_t errlen);
void el_load_destroy(struct el_load *l);

/* Runs the load until the duration or the counts are done, or *cfg->stop
 * is set. progress, when given, is called about once a second from the
 * calling thread. Returns 0, or -errno when the workers could not start
 * (with the reason in err).
 *
 * A timed run that opens its connections all at once (no connect_rate,
 * no count) starts behind a gate: every connection connects and sends one
 * message, and holds after its reply until every connection has had one
 * or has failed (refused, timed out...: counted as errors), or until
 * twice the timeout, at least 10 s, has passed; only then do
 * the warm-up and the measured window start, for all of them at once.
 * Without it, 500 spawned clients in closed loop saturated both CPUs while
 * the load was still forking the rest of them and a fork server was still
 * accepting and forking theirs: both forking parents were starved for
 * seconds (docs/decisions.md), so the run measured a fraction of its
 * clients. Those gate messages are checked like any other but not
 * counted in messages or RTTs. */
int el_load_run(struct el_load *l, void (*progress)(struct el_load *l, double elapsed_s, void *arg),
		void *arg, char *err, size_t errlen);

/* One step of a rate series (echolab-load --rate-steps, echolab-bench's
 * sweep): a whole run of cfg at rate messages/s per connection (0: closed
 * loop), its own connections opened and closed, its result into r;
 * progress as el_load_run's. Returns 0, or -1 with the reason in err. */
int el_load_step(const struct el_load_cfg *cfg, double rate,
		 void (*progress)(struct el_load *l, double elapsed_s, void *arg), void *arg,
		 struct el_load_result *r, char *err, size_t errlen);

/* Ends the measurement now instead of at its duration (--until-ci):
 * the workers stop at their next turn. Threads only (not spawn). */
void el_load_end_now(struct el_load *l);

/* Merges what every worker measured so far (safe during the run, for
 * progress lines: the histogram is then read approximately). */
void el_load_snapshot(struct el_load *l, struct el_load_result *r, bool live);

/* The summary as JSON (echolab-load --json): the run's settings, messages,
 * errors by kind, the RTT figures with the given percentiles, and a
 * "merge" object with the exact moments and the histogram's buckets, from
 * which el_load_summary_read (merge.h) reads it back. */
void el_load_write_json(FILE *f, const struct el_load_cfg *cfg, const struct el_load_result *r,
			const double *pcts, int npct, bool interrupted);

/* Whether there was no server to load: no connection was ever answered
 * and every error was a refused connect (nothing listens at the address).
 * Such a run is invalid with the one reason "no connection was accepted",
 * not the generator's reasons. */
bool el_load_no_server(const struct el_load_result *r);

/* The figures of the JSON summary, after the run's settings: messages,
 * errors, RTT figures and the "merge" object, then the closing brace. */
/* The validity verdict of a result, from its figures and cfg: fills valid
 * and reasons (el_load_result calls it). */
void el_load_validate(const struct el_load_cfg *cfg, struct el_load_result *r);

/* The validity keys of the JSON summary, each line indented two spaces:
 * "valid" and "invalid_reasons". */
void el_load_write_json_validity(FILE *f, bool valid, int nreasons, const char (*reasons)[96]);

void el_load_write_json_figures(FILE *f, uint64_t messages, double window_s, double msgs_per_s,
				const uint64_t *errors, const struct el_hist *h, const double *pcts, int npct);

#endif
