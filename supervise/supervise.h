/* The server supervisor: starts a server under test, by a shell command
 * with placeholders ({port}, {bind}, {backlog}, {max_line}, {max_conns},
 * {idle_timeout}) or by echolab-server's argv and ready line, in a process
 * group of its own; waits until it is ready; tells whether it is alive;
 * stops it (a signal, then SIGKILL for the whole group) leaving no process
 * behind. Used by echolab-conform, and by the bench for a server given by
 * command. Errors are negative errno values with a one-line reason in the
 * caller's buffer. */
#ifndef EL_SUPERVISE_H
#define EL_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The settings a command's placeholders take. */
struct el_sup_settings {
	const char *bind;    /* {bind}, default 127.0.0.1 */
	unsigned port;       /* {port} */
	long backlog;        /* {backlog} */
	long max_line;       /* {max_line} */
	long max_conns;      /* {max_conns} */
	double idle_timeout; /* {idle_timeout}, seconds (0: never) */
};

/* Whether tmpl has the placeholder {name}. */
bool el_sup_has(const char *tmpl, const char *name);

/* Writes tmpl with every placeholder replaced into out. Returns 0,
 * -ENAMETOOLONG when out is too small, or -EINVAL for a placeholder it does
 * not know (its name, braces included, in bad). */
int el_sup_expand(const char *tmpl, const struct el_sup_settings *s, char *out, size_t len, char *bad,
		  size_t badlen);

/* A TCP port of 127.0.0.1 that nothing is bound to now (bound to port 0,
 * read back, closed). Returns it, or -errno. */
int el_sup_free_port(void);

struct el_sup {
	pid_t pid;          /* the process started (its group's leader) */
	char host[64];
	unsigned port;
	int status;         /* its wait status once reaped, else -1 */
};

/* Starts /bin/sh -c cmd in a new process group, its standard input from
 * /dev/null and its output and error appended to out_path and err_path
 * (NULL: /dev/null), and waits up to timeout_ms until host:port accepts a
 * connection (the one made to find out is closed at once). Returns 0, or
 * -errno with the reason in why (the command exited first, or never
 * listened); a server that did not become ready is stopped. */
int el_sup_start_cmd(struct el_sup *s, const char *cmd, const char *host, unsigned port,
		     const char *out_path, const char *err_path, int timeout_ms, char *why, size_t whylen);

/* Whether the started process is still running (reaps it if not). */
bool el_sup_alive(struct el_sup *s);

/* Sends sig to the process group, waits up to grace_ms for the started
 * process to exit, then SIGKILLs the whole group and waits for the leader.
 * Returns its wait status, or -1 when it had to be killed after grace_ms;
 * *left (if not NULL) is set to how many processes of the group were
 * still there 2 s after the SIGKILL. */
int el_sup_stop(struct el_sup *s, int sig, int grace_ms, int *left);

/* Processes of the group still alive (zombies not counted). */
int el_sup_group_size(pid_t pgid);

#endif
