/* The conformance harness: starts the real echolab-server binary on port 0
 * in its own process group, reads its ready line, and talks to it as a
 * client would. Every helper fails the running Criterion test on error. */
#ifndef EL_HARNESS_H
#define EL_HARNESS_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client.h"
#include "supervise.h"

struct model_param {
	char name[32];
	char traits[96]; /* as --list-models prints them: "event-driven,loop-per-cpu" */
	char error[160]; /* no model to test: why (the one parameter then) */
};

/* Whether the model has the trait (tests ask for traits, not names). */
bool model_has(const struct model_param *p, const char *trait);

/* The models the server lists with --list-models, as Criterion parameters. */
struct criterion_test_params model_params(void);

/* One test body, run once per model that --list-models prints. */
#define MODEL_TEST(test, ...)                                                    \
	static void test##_body(struct model_param *param);                      \
	ParameterizedTestParameters(conformance, test)                           \
	{                                                                        \
		return model_params();                                           \
	}                                                                        \
	ParameterizedTest(struct model_param *param, conformance, test, __VA_ARGS__) \
	{                                                                        \
		harness_model = param->name;                                     \
		harness_param = param;                                           \
		if (param->error[0])                                             \
			cr_assert_fail("%s", param->error);                      \
		test##_body(param);                                              \
	}                                                                        \
	static void test##_body(struct model_param *param)

/* The model the running test is about ("server" outside MODEL_TEST):
 * every failure of a helper names it, as Criterion's report does not. */
extern const char *harness_model;
/* The model's parameter in a MODEL_TEST, else NULL. */
extern const struct model_param *harness_param;

/* Models that serve one connection at a time. */
bool model_is_sequential(const struct model_param *p);

/* Raises this process's soft RLIMIT_NOFILE to its hard limit (cases that
 * hold thousands of client sockets). */
void raise_nofile(void);

/* How much slower than native this run is (valgrind: about 20). */
int slow_factor(void);

struct server {
	struct el_sup sup;   /* started and watched by the supervisor */
	pid_t pid;
	unsigned port;
	char ready[256];     /* the ready line, without its LF */
	char log_path[64];   /* its standard output, unlinked at once */
	int log_fd;          /* open on that file, for server_log */
	int stderr_fd;
};

/* Starts echolab-server with --model model --port 0 and the extra
 * arguments (a NULL-terminated list), and waits for its ready line. */
void server_start(struct server *s, const char *model, ...) __attribute__((sentinel));
/* Extra conditions for a server: an environment entry ("NAME=value")
 * and a soft RLIMIT_NOFILE (0: unchanged). */
struct server_opts {
	const char *env;
	long nofile;
	bool closed_log; /* standard output: a pipe whose reader is gone */
};
void server_start_with(struct server *s, const struct server_opts *o, const char *model, ...)
	__attribute__((sentinel));

/* Figures of the server's process group, from /proc. */
struct server_usage {
	long procs, threads, zombies;
	long rss_kib, pss_kib;
	long fds;         /* of the main process */
	long cpu_ticks;   /* user + system of the live processes */
};
void server_usage(const struct server *s, struct server_usage *u);

/* Sends sig and waits for the exit; asserts it exits with status 0 within
 * 2 s (scaled by slow_factor) and leaves no process of its group behind.
 */
void server_stop(struct server *s, int sig);
/* server_stop in two halves, for a test that must act in between. */
void server_signal(struct server *s, int sig);
void server_wait(struct server *s, int sig);
/* SIGKILLs the server and asserts its whole process group is gone within
 * 2 s (scaled): a server killed outright leaves no worker behind. */
void server_kill(struct server *s);
/* Runs echolab-server with the given arguments (NULL-terminated) to its
 * end; returns the exit status and writes its stderr into err. */
int server_run(char *err, size_t errlen, const char *arg, ...) __attribute__((sentinel));
/* The server's log so far, NUL-terminated; free it. */
char *server_log(const struct server *s, size_t *len);
/* Resident memory of the server's whole process group, in KiB. */
long server_rss_kib(const struct server *s);

/* Runs a program to its end with input on its standard input; captures
 * standard output and error (NUL-terminated, truncated to their sizes).
 * Returns the exit status (128 + signal if killed). Kills it after 30 s. */
int run_program(const char *path, const char *input, char *out, size_t outlen, char *err,
		size_t errlen, const char *arg, ...) __attribute__((sentinel));

struct client {
	int fd;
	struct el_lines lines;
	unsigned local_port;
};

/* Connects to 127.0.0.1 (or host) at the server's port. */
void client_open(struct client *c, const struct server *s);
void client_open_host(struct client *c, const char *host, unsigned port);
/* Makes a connected socket (blocking) a client of the harness. */
void client_adopt(struct client *c, int fd);
void client_close(struct client *c);
/* Closes with an RST (SO_LINGER 0). */
void client_reset(struct client *c);
void client_send(struct client *c, const void *data, size_t len);
void client_send_str(struct client *c, const char *text);
/* Reads one line (with its LF) into a malloc'd buffer, failing the test on
 * EOF or after timeout_ms (scaled). Returns its length. */
size_t client_line(struct client *c, uint8_t **line, int timeout_ms);
/* Like client_line but returns -ETIMEDOUT, 0 at EOF (no unterminated
 * rest), -ECONNRESET, or the length, without failing. */
ssize_t client_try_line(struct client *c, uint8_t **line, int timeout_ms);
/* Asserts the next line is an echo of msg from this client and returns
 * nothing; checks TIME against the local clock. */
void client_expect_echo(struct client *c, const void *msg, size_t len);
/* The same, waiting up to timeout_ms (scaled) instead of 5 s. */
void client_expect_echo_within(struct client *c, const void *msg, size_t len, int timeout_ms);
/* Asserts the server closes the connection cleanly (FIN, no RST) within
 * timeout_ms (scaled) with nothing more to read. */
void client_expect_eof(struct client *c, int timeout_ms);

#endif
