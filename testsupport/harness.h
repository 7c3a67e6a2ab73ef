/* The conformance harness: starts the real echolab-server binary on port 0
 * in its own process group, reads its ready line, and talks to it as a
 * client would. Every helper fails the running Criterion test on error.
 * Its names start with th_ (or harness_), so that a test's own statics
 * never collide with them. */
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
#include "traits.h"

struct th_model_param {
	char name[32];
	unsigned traits; /* enum el_trait, as --list-models prints them */
	int index;       /* its place among the models under test, from 0 */
	char error[160]; /* no model to test: why (the one parameter then) */
};

/* Whether the model has the trait (tests ask for traits, not names). */
bool th_model_has(const struct th_model_param *p, enum el_trait trait);

/* The models the server lists with --list-models, as Criterion parameters. */
struct criterion_test_params th_model_params(void);

/* One test body, run once per model that --list-models prints. */
#define MODEL_TEST(test, ...)                                                    \
	static void test##_body(struct th_model_param *param);                      \
	ParameterizedTestParameters(conformance, test)                           \
	{                                                                        \
		return th_model_params();                                           \
	}                                                                        \
	ParameterizedTest(struct th_model_param *param, conformance, test, __VA_ARGS__) \
	{                                                                        \
		harness_model = param->name;                                     \
		harness_param = param;                                           \
		if (param->error[0])                                             \
			cr_assert_fail("%s", param->error);                      \
		test##_body(param);                                              \
	}                                                                        \
	static void test##_body(struct th_model_param *param)

/* The model the running test is about ("server" outside MODEL_TEST):
 * every failure of a helper names it, as Criterion's report does not. */
extern const char *harness_model;
/* The model's parameter in a MODEL_TEST, else NULL. */
extern const struct th_model_param *harness_param;

/* Models that serve one connection at a time. */
bool th_model_is_sequential(const struct th_model_param *p);

/* Raises this process's soft RLIMIT_NOFILE to its hard limit (cases that
 * hold thousands of client sockets). */
void th_raise_nofile(void);

/* How much slower than native this run is (valgrind: about 20). */
int th_slow_factor(void);

struct th_server {
	struct el_sup sup;   /* started and watched by the supervisor */
	pid_t pid;
	unsigned port;
	char ready[256];     /* the ready line, without its LF */
	char log_path[64];   /* its standard output, unlinked at once */
	int log_fd;          /* open on that file, for th_server_log */
	int stderr_fd;
};

/* Starts echolab-server with --model model --port 0 and the extra
 * arguments (a NULL-terminated list), and waits for its ready line. */
void th_server_start(struct th_server *s, const char *model, ...) __attribute__((sentinel));
/* Extra conditions for a server: an environment entry ("NAME=value")
 * and a soft RLIMIT_NOFILE (0: unchanged). */
struct th_server_opts {
	const char *env;
	long nofile;
	bool closed_log; /* standard output: a pipe whose reader is gone */
};
void th_server_start_with(struct th_server *s, const struct th_server_opts *o, const char *model, ...)
	__attribute__((sentinel));

/* Figures of the server's process group, from /proc. */
struct th_server_usage {
	long procs, threads, zombies;
	long rss_kib, pss_kib;
	long fds;         /* of the main process */
	long cpu_ticks;   /* user + system of the live processes */
};
void th_server_usage(const struct th_server *s, struct th_server_usage *u);

/* How long the threads of process pid have waited for a CPU so far,
 * summed (schedstat's run_delay), in milliseconds; 0 where the kernel
 * does not say. A bound on how soon a server acts holds for its own
 * time: add what it waited meanwhile. */
int64_t th_waited_for_cpu_ms(pid_t pid);

/* Sends sig and waits for the exit; asserts it exits with status 0 within
 * 2 s (scaled by th_slow_factor; longer by as long as its threads waited
 * for a CPU meanwhile, 30 s at most) and leaves no process of its group
 * behind. */
void th_server_stop(struct th_server *s, int sig);
/* th_server_stop in two halves, for a test that must act in between. */
void th_server_signal(struct th_server *s, int sig);
void th_server_wait(struct th_server *s, int sig);
/* SIGKILLs the server and asserts its whole process group is gone within
 * 2 s (scaled): a server killed outright leaves no worker behind. */
void th_server_kill(struct th_server *s);
/* Runs echolab-server with the given arguments (NULL-terminated) to its
 * end; returns the exit status and writes its stderr into err. */
int th_server_run(char *err, size_t errlen, const char *arg, ...) __attribute__((sentinel));
/* The server's log so far, NUL-terminated; free it. */
char *th_server_log(const struct th_server *s, size_t *len);
/* Proportional resident memory (PSS) of the server's whole process group,
 * in KiB: a page shared by forked workers counts once over them all, so a
 * worker a pool forks adds what it writes, not its parent's whole RSS
 * again (under valgrind that is 60 MiB a worker). */
long th_server_pss_kib(const struct th_server *s);

/* Runs a program to its end with input on its standard input; captures
 * standard output and error (NUL-terminated, truncated to their sizes).
 * Returns the exit status (128 + signal if killed). Kills it after 30 s. */
int th_run_program(const char *path, const char *input, char *out, size_t outlen, char *err,
		size_t errlen, const char *arg, ...) __attribute__((sentinel));

struct th_client {
	int fd;
	struct el_lines lines;
	unsigned local_port;
};

/* Connects to 127.0.0.1 (or host) at the server's port. */
void th_client_open(struct th_client *c, const struct th_server *s);
void th_client_open_host(struct th_client *c, const char *host, unsigned port);
/* Makes a connected socket (blocking) a client of the harness. */
void th_client_adopt(struct th_client *c, int fd);
void th_client_close(struct th_client *c);
/* Closes with an RST (SO_LINGER 0). */
void th_client_reset(struct th_client *c);
void th_client_send(struct th_client *c, const void *data, size_t len);
void th_client_send_str(struct th_client *c, const char *text);
/* Reads one line (with its LF) into a malloc'd buffer, failing the test on
 * EOF or after timeout_ms (scaled). Returns its length. */
size_t th_client_line(struct th_client *c, uint8_t **line, int timeout_ms);
/* Like th_client_line but returns -ETIMEDOUT, 0 at EOF (no unterminated
 * rest), -ECONNRESET, or the length, without failing. */
ssize_t th_client_try_line(struct th_client *c, uint8_t **line, int timeout_ms);
/* Asserts the next line is an echo of msg from this client and returns
 * nothing; checks TIME against the local clock. */
void th_client_expect_echo(struct th_client *c, const void *msg, size_t len);
/* The same, waiting up to timeout_ms (scaled) instead of 5 s. */
void th_client_expect_echo_within(struct th_client *c, const void *msg, size_t len, int timeout_ms);
/* Asserts the server closes the connection cleanly (FIN, no RST) within
 * timeout_ms (scaled) with nothing more to read. */
void th_client_expect_eof(struct th_client *c, int timeout_ms);

#endif
