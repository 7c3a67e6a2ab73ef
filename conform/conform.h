/* echolab-conform's case library: every behaviour of docs/protocol.md as a
 * case with an id (CATEGORY.NAME), a title and the section it checks, run
 * against any echo server, one started per command (the supervisor) or one
 * already running. A case either passes, fails with a transcript of what
 * was sent, expected and received, reports a measured behaviour (info), or
 * is skipped with the reason. The program (conform_main.c) and the meson
 * suites run these same cases: no behaviour is checked by two bodies. */
#ifndef EL_CONFORM_H
#define EL_CONFORM_H

#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "supervise.h"

enum el_conf_verdict { EL_CONF_OK, EL_CONF_FAIL, EL_CONF_INFO, EL_CONF_SKIP };

/* What a case needs; a case whose needs cannot be met is skipped. */
enum {
	EL_CONF_ANNOTATED = 1 << 0,   /* annotated mode (skipped with --raw) */
	EL_CONF_RAW = 1 << 1,         /* raw mode (run only with --raw) */
	EL_CONF_OWN = 1 << 2,         /* a fresh instance, stopped after it */
	EL_CONF_STARTED = 1 << 3,     /* an instance the tool started (signals, memory) */
	EL_CONF_MAX_CONNS = 1 << 4,   /* {max_conns} in the command */
	EL_CONF_IDLE = 1 << 5,        /* {idle_timeout} in the command */
	EL_CONF_BACKLOG = 1 << 6,     /* {backlog} in the command */
	EL_CONF_ROOT = 1 << 7,        /* packet capture: root or CAP_NET_RAW */
	EL_CONF_LOG = 1 << 8,         /* the server's standard output (--server-cmd) */
};

struct el_conf_opts {
	const char *server_cmd;   /* with placeholders; NULL with a target */
	char host[64];            /* the target's, or 127.0.0.1 */
	unsigned port;            /* the target's; 0 with server_cmd */
	bool raw;
	long max_line;            /* the server's limit (default 8192) */
	double timeout_s;         /* for each reply (default 5) */
	double skew_s;            /* TIME may differ from this clock by this much */
	int slow;                 /* how much slower this run is (valgrind: 20) */
	const char *self;         /* argv[0], for the replay commands */
	/* NULL, or the sandbox the server runs in (sandbox.h): the caller's
	 * thread is in its network namespace, so that the cases' clients
	 * are. */
	struct el_sbx *sbx;
	volatile sig_atomic_t *stop;
};

struct el_conf_case;

/* One case's run. */
struct el_conf_ctx {
	const struct el_conf_opts *o;
	const struct el_conf_case *c;
	struct el_conf_runner *runner;
	const char *host;
	unsigned port;
	struct el_sup *sup;       /* the started instance; NULL with a target */
	struct el_sup_settings set;
	jmp_buf fail;
	int verdict;
	char reason[1024];
	char *tr;                 /* the transcript */
	size_t trlen, trcap;
	struct el_conf_client *clients[1024];
	int nclients, nopened;
	bool stopped;             /* the case stopped the server itself */
	void *scratch[8];         /* freed after the case */
};

struct el_conf_case {
	const char *id;
	const char *title;
	const char *section;      /* of docs/protocol.md, or docs/interface.md */
	unsigned needs;
	/* The settings a case asks of its instance (0: the defaults). */
	long max_conns;
	double idle_timeout;
	long backlog;
	void (*run)(struct el_conf_ctx *x);
};

extern const struct el_conf_case el_conf_cases[];
extern const size_t el_conf_ncases;

/* Whether id matches one of the comma-separated shell patterns (NULL or
 * empty: every id) and none of those written with a leading '!'. */
bool el_conf_selected(const char *patterns, const char *id);

struct el_conf_result {
	const struct el_conf_case *c;
	int verdict;
	char reason[1024];
	char *transcript;         /* malloc'd or NULL; free it */
	double seconds;
};

/* Runs the cases against one server: keeps an instance started by command
 * while the next case's settings are the same, and checks after each case
 * that the instance is still alive. */
struct el_conf_runner {
	const struct el_conf_opts *o;
	struct el_sup sup;
	bool up;
	bool untouched;           /* up, started by el_conf_runner_check, no case run on it */
	struct el_sup_settings cur;
	char cmd[4096];           /* the command of the running instance */
	char err_path[64];        /* its stderr, for a failure's reason */
	char out_path[64];        /* its stdout, when capturing */
	bool capturing;           /* its stdout goes to out_path (a case needs the log) */
	const char *last_case;    /* the last case run on the running instance */
	/* The last instance that died: in (or after) which case, and how
	 * ("of SIGPIPE"), for the cases that come after it. */
	char died_in[64];
	char died_how[64];
	bool died_told;           /* a later case has said so */
};

void el_conf_runner_init(struct el_conf_runner *r, const struct el_conf_opts *o);
/* Before the first case: is there a server to grade? One that never
 * starts, or a target nothing accepts at, is then one line (why) instead
 * of the same failure in every case. With a command, starts the instance
 * with the settings of the first case of patterns that can run (which
 * goes on with it); with a target, connects once. Returns 0 (also when no
 * selected case needs the server), or -errno with one line in why. */
int el_conf_runner_check(struct el_conf_runner *r, const char *patterns, char *why, size_t whylen);
/* Runs case c into res. */
void el_conf_run(struct el_conf_runner *r, const struct el_conf_case *c, struct el_conf_result *res);
/* Runs every case patterns selects, in turn, until *o->stop: each one's
 * result into res[n] (room for every selected case), then each(res, n,
 * arg) if each is not NULL. Returns how many ran. */
size_t el_conf_run_selected(struct el_conf_runner *r, const char *patterns, struct el_conf_result *res,
			    void (*each)(const struct el_conf_result *res, size_t i, void *arg), void *arg);
/* How many cases patterns selects. */
size_t el_conf_nselected(const char *patterns);
/* Stops the running instance. Returns 0, or -1 when processes of it were
 * left after SIGKILL (the reason in why). */
int el_conf_runner_finish(struct el_conf_runner *r, char *why, size_t whylen);

/* Starts /bin/sh -c cmd inside the sandbox sbx as sup's process: wrapped
 * in bubblewrap, started by a child that joined the sandbox's cgroups and
 * network namespace, signalled through the sandbox, ready when host:port
 * accepts. out_fd and err_fd as el_sup_spec's. Returns 0, or -errno with
 * the reason in why. */
int el_conf_start_sandboxed(struct el_sbx *sbx, struct el_sup *sup, const char *cmd, const char *host,
			    unsigned port, int out_fd, int err_fd, int timeout_ms, char *why, size_t whylen);

/* The verdict's word: "ok", "FAIL", "info", "skip". */
const char *el_conf_verdict_name(int v);

/* Outputs (report.c). */
/* s as HTML text (and attribute values): <, >, &, " escaped, control
 * bytes but LF and tab as \xhh. */
void el_conf_html_text(FILE *f, const char *s);
/* The case categories, each id's part before its dot, in the reports'
 * order; NULL-terminated. */
extern const char *const el_conf_categories[];
/* A result as the terminal shows it: a line, and a failure's section,
 * transcript and replay command (quiet: failures only). */
void el_conf_print_line(FILE *out, const struct el_conf_opts *o, const struct el_conf_result *r, bool quiet);
struct el_conf_report {
	const struct el_conf_opts *o;
	const struct el_conf_result *res;
	size_t n;
	const char *command;      /* the command line the tool ran with */
	const char *started_at;   /* RFC 3339 */
	/* Why no case ran (el_conf_runner_check), counted as one failure;
	 * NULL when the server was there. */
	const char *error;
};
int el_conf_write_junit(FILE *f, const struct el_conf_report *r);
int el_conf_write_json(FILE *f, const struct el_conf_report *r);
int el_conf_write_html(FILE *f, const struct el_conf_report *r);
/* docs/protocol.md, built in (the HTML report's appendix). */
extern const char el_conf_protocol_md[];
/* The replay command of a case: this tool, the server, --cases ID. */
void el_conf_replay(const struct el_conf_opts *o, const char *id, char *out, size_t len);

#endif
