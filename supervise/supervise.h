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

#include <sched.h>
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
	char ready[256];    /* echolab's ready line (ready_line), without LF */
	int (*signal)(void *arg, int sig); /* the spec's */
	void *signal_arg;
};

/* How to start a server. */
struct el_sup_spec {
	const char *const *argv; /* exec'd as it is, or NULL and: */
	const char *cmd;         /* run by /bin/sh -c */
	int out_fd, err_fd;      /* its standard output and error; -1: /dev/null */
	/* Run in the child just before exec (environment, limits). */
	void (*setup)(void *arg);
	void *setup_arg;
	bool die_with_parent;    /* SIGKILL it when the caller dies */
	/* Ready when err_fd (a file read from its start, or a pipe read up to
	 * the line's LF and no further) holds echolab-server's ready line,
	 * whose port goes to s->port; otherwise when host:port accepts a
	 * connection (closed at once); with neither (port 0), at once. */
	bool ready_line;
	int ready_fd;            /* where to read it, if not err_fd (a pipe's
				  * read end); 0: err_fd */
	const char *host;
	unsigned port;
	int timeout_ms;
	const cpu_set_t *cpus;   /* NULL, or the only CPUs it may run on */
	/* How to signal the server's processes when they are not its group
	 * (a sandbox: they are in a session of their own, and the process
	 * started is the sandbox's): sends sig to them, and returns how many
	 * it reached. NULL: the process, or its group. Used for every signal,
	 * the last SIGKILL included. */
	int (*signal)(void *arg, int sig);
	void *signal_arg;
};

/* Starts a server in a new process group (stdin /dev/null) and waits until
 * it is ready. Returns 0, or -errno with the reason in why: -ECHILD when
 * it exited first, -EOPNOTSUPP when it exited saying the model is
 * "unavailable" (a system that cannot run it), -ETIMEDOUT when it never
 * became ready (it is then stopped). */
int el_sup_start(struct el_sup *s, const struct el_sup_spec *sp, char *why, size_t whylen);

/* el_sup_start of /bin/sh -c cmd, its output and error appended to
 * out_path and err_path (NULL: /dev/null), ready when host:port accepts. */
int el_sup_start_cmd(struct el_sup *s, const char *cmd, const char *host, unsigned port,
		     const char *out_path, const char *err_path, int timeout_ms, char *why, size_t whylen);
/* The same, on the given CPUs only (NULL: any). */
int el_sup_start_cmd_on(struct el_sup *s, const char *cmd, const char *host, unsigned port,
			const char *out_path, const char *err_path, int timeout_ms, const cpu_set_t *cpus,
			char *why, size_t whylen);

/* Whether a command is run by /bin/sh -c (shell syntax: quotes, $, ;,
 * redirections ...), or else exec'd as its words. Through a shell, the
 * process started is the shell (dash does not exec the last command),
 * and a server killed by signal N shows as the shell's exit status
 * 128 + N. */
bool el_sup_uses_shell(const char *cmd);

/* A signal's name as C code writes it ("SIGPIPE"), into buf; "signal N"
 * for a number without one. Returns buf. */
const char *el_sup_signal_name(int sig, char *buf, size_t len);

/* Whether the started process is still running (reaps it if not). */
bool el_sup_alive(struct el_sup *s);

/* Sends sig to the started process, or to its whole group (a server run
 * through a shell, or one that does not pass signals on). Returns 0 or
 * -errno (-ESRCH: already gone). */
int el_sup_signal(struct el_sup *s, int sig, bool group);

/* Waits up to grace_ms for the started process to exit, then SIGKILLs the
 * whole group and reaps the leader. Returns its wait status, or -1 when
 * it had to be killed; *left (if not NULL) is how many processes of the
 * group were still there (zombies aside) 2 s after the SIGKILL. */
int el_sup_wait(struct el_sup *s, int grace_ms, int *left);

/* el_sup_signal then el_sup_wait. */
int el_sup_stop(struct el_sup *s, int sig, bool group, int grace_ms, int *left);

/* The process tree's figures (procstat's sampler, every detail read). */
struct el_sup_usage {
	long procs, threads, fds, rss_kib, pss_kib;
};
int el_sup_usage(pid_t root, struct el_sup_usage *u);

/* Processes of the group still alive (zombies not counted). */
int el_sup_group_size(pid_t pgid);

#endif
