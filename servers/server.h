/* What every echolab server model shares: its configuration, the listening
 * socket, the stop signal, the log, and the table of models. A model is one
 * function that runs connections until the server is told to stop. */
#ifndef EL_SRV_H
#define EL_SRV_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct el_srv_config {
	const char *model;
	const char *bind;
	unsigned port;
	int backlog;
	bool raw;
	bool quiet;
	size_t max_line;
	long max_conns;          /* 0: no limit but the system's */
	int64_t idle_timeout_ms; /* 0: never */
	int workers;
};

struct el_srv {
	struct el_srv_config cfg;
	int listen_fd;
	int stop_fd;  /* readable once a stop was asked for; never drained */
	int stop_wfd; /* the signal handler writes here */
	int log_fd;   /* standard output, or -1 with --quiet */
};

struct el_model {
	const char *name;
	/* Serves until stop; returns 0, or 1 after a runtime failure it has
	 * already reported on stderr. */
	int (*run)(struct el_srv *srv);
};

/* The models that exist, in --list-models order, ending with {NULL}. */
extern const struct el_model el_models[];

/* Set by SIGINT/SIGTERM: the one mutable global of a server. */
extern volatile sig_atomic_t el_srv_stopping;

/* Parses argv into cfg. Returns 0 to run, 1 when it printed what was asked
 * (--help, --list-models), or -EINVAL after printing a one-line usage error
 * to stderr. */
int el_srv_parse_args(int argc, char **argv, struct el_srv_config *cfg);

/* Finds a model by name; NULL if there is none. */
const struct el_model *el_srv_find_model(const char *name);

/* Opens the listening socket, installs the signal handlers and prints the
 * ready line. Returns 0, or -errno after a one-line error on stderr. */
int el_srv_start(struct el_srv *srv, const struct el_srv_config *cfg);
/* Closes what el_srv_start opened. */
void el_srv_finish(struct el_srv *srv);

/* True once SIGINT or SIGTERM arrived. */
bool el_srv_should_stop(const struct el_srv *srv);

/* Accepts one connection (close-on-exec, blocking). Returns the fd, or
 * -EAGAIN when there was nothing to accept or the client went away first,
 * or -EMFILE after resource exhaustion (the caller should pause: see
 * el_srv_pause), or another -errno. */
int el_srv_accept(struct el_srv *srv, struct sockaddr_storage *peer);

/* Waits up to ms milliseconds or until stop. */
void el_srv_pause(struct el_srv *srv, int ms);

/* Waits until the listening socket is readable or stop. Returns true when
 * it is readable. */
bool el_srv_wait_accept(struct el_srv *srv);

/* Tells a client over --max-conns "! busy", logs it and closes fd. */
void el_srv_reject_busy(struct el_srv *srv, int fd, const struct sockaddr *peer);

/* Writes "# " and the formatted text as one log line with one write(2).
 * Nothing with --quiet. */
__attribute__((format(printf, 2, 3))) void el_srv_logf(struct el_srv *srv, const char *fmt, ...);

/* Writes a prepared log line with one write(2). */
void el_srv_log_write(struct el_srv *srv, const void *line, size_t len);

#endif
