/* A sandbox for a student's code (issue 27): what a submission runs, its
 * build included, runs under bubblewrap as an unprivileged user, with its
 * own pid, IPC, UTS and network namespaces, in cgroups that limit its
 * processes and memory, with its CPU time and its wall-clock time watched;
 * when it is done, every process it made is killed, double-forked daemons
 * and setsid() ones included (they stay in the cgroup).
 *
 * Its network namespace has loopback only, and a trap: a veth pair whose
 * one end is the default route, so that a packet for anywhere outside
 * goes out of it (and nowhere: its peer has no address) and is counted.
 * The grader enters the namespace (el_sbx_enter_net) to connect to the
 * server inside. Its file system is /usr, /etc read-only, a /proc and
 * /dev of its own, an empty /tmp, and its folder at /submission, the only
 * place it can write; nothing else of the host is there.
 *
 * Needs root (namespaces, cgroups) and bwrap; cgroup v2 (pids, memory;
 * its cgroups at the root) or v1 (pids, memory, cpuacct, freezer; its
 * cgroups under the caller's own, so under whatever limits the caller is). el_sbx_check says in one
 * line what is missing. Errors are negative errno values with a one-line
 * reason in the caller's buffer. */
#ifndef EL_SANDBOX_H
#define EL_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The user a sandbox runs as: nobody. */
#define EL_SBX_UID 65534
#define EL_SBX_GID 65534
/* Where its folder is, inside. */
#define EL_SBX_DIR "/submission"

struct el_sbx_limits {
	long pids;          /* processes and threads at once (default 64) */
	long memory_mib;    /* resident memory of all its processes (256) */
	double cpu_s;       /* CPU time of all its processes (20) */
	double wall_s;      /* one command's wall-clock time (60) */
};

#define EL_SBX_LIMITS_DEFAULT ((struct el_sbx_limits){64, 256, 20, 60})

/* What a sandbox has seen so far. */
struct el_sbx_events {
	uint64_t pids_max;   /* forks refused at the process limit */
	uint64_t oom_kills;  /* processes killed at the memory limit */
	double cpu_s;        /* CPU time used */
	uint64_t outside;    /* packets sent toward outside (the trap) */
};

/* Why a command ended (el_sbx_wait). */
enum el_sbx_end {
	EL_SBX_EXITED,        /* exit status in code */
	EL_SBX_SIGNALED,      /* killed by signal code (not by a limit) */
	EL_SBX_PROCESS_LIMIT, /* a fork was refused at the process limit */
	EL_SBX_MEMORY_LIMIT,  /* the kernel killed a process at the memory limit */
	EL_SBX_CPU_LIMIT,     /* its CPU time passed the limit: killed */
	EL_SBX_WALL_LIMIT,    /* still running at the wall-clock limit: killed */
};

const char *el_sbx_end_name(enum el_sbx_end e);

struct el_sbx_result {
	enum el_sbx_end end;
	int code;            /* exit status or signal */
	double wall_s;
	struct el_sbx_events ev;
};

struct el_sbx;

/* Whether this host can sandbox: 0, or -ENOTSUP with what is missing (root,
 * bwrap, the cgroup controllers) in one line in why. */
int el_sbx_check(char *why, size_t whylen);

/* A sandbox named name (letters, digits, '-', '_'; unique among the
 * sandboxes alive) over dir, which becomes the sandbox user's (chown -R):
 * pass a copy. Returns it, or NULL with the reason in why. */
struct el_sbx *el_sbx_create(const char *name, const char *dir, const struct el_sbx_limits *lim, char *why,
			     size_t whylen);

/* In a child between fork and exec (a supervisor's setup hook): joins the
 * sandbox's cgroups and network namespace and becomes its user. Then exec
 * the command el_sbx_wrap wrote, with /bin/sh -c. Returns 0 or -errno. */
int el_sbx_enter_child(const struct el_sbx *s);

/* Writes into out a shell command that runs cmd inside the sandbox
 * (`exec bwrap ... -- /bin/sh -c CMD`, every word quoted), for a process
 * that el_sbx_enter_child has prepared. Returns 0 or -ENAMETOOLONG. */
int el_sbx_wrap(const struct el_sbx *s, const char *cmd, char *out, size_t len);

/* Starts `/bin/sh -c cmd` inside, in EL_SBX_DIR, its standard output and
 * error to out_fd (-1: /dev/null). Returns the pid of its bwrap (the
 * command's ancestor), or -errno. */
pid_t el_sbx_spawn(struct el_sbx *s, const char *cmd, int out_fd);

/* Waits for a spawned command to end, watching the limits (a limit passed
 * kills every process of the sandbox). r says how it ended. Returns 0, or
 * -errno. */
int el_sbx_wait(struct el_sbx *s, pid_t pid, struct el_sbx_result *r);

/* Reads the counters, for a command that runs on (a server) and that the
 * caller watches itself: el_sbx_over_cpu says when to kill it. Returns 0,
 * or -errno. */
int el_sbx_events(struct el_sbx *s, struct el_sbx_events *ev);

/* Whether ev shows the CPU limit passed. */
bool el_sbx_over_cpu(const struct el_sbx *s, const struct el_sbx_events *ev);

/* Moves the calling thread into the sandbox's network namespace (sockets
 * it makes afterwards are inside: 127.0.0.1 is the sandbox's loopback), or
 * back into the one it had before (el_sbx_leave_net). Returns 0, -errno. */
int el_sbx_enter_net(struct el_sbx *s);
int el_sbx_leave_net(struct el_sbx *s);

/* Sends sig to every process of the sandbox but bubblewrap's own (the
 * command and what it started: a server, its shell, its workers), as a
 * process group's signal would reach them; bwrap puts them in a session
 * of their own, and bwrap itself would die of the signal and take them
 * with it. Returns how many it was sent to. */
int el_sbx_signal(struct el_sbx *s, int sig);

/* Kills every process of the sandbox and reaps what is the caller's.
 * Returns how many were left, 0 when none could be found afterwards. */
int el_sbx_kill_all(struct el_sbx *s);

/* Kills what is left, removes the cgroups and the namespace. NULL is
 * fine. */
void el_sbx_destroy(struct el_sbx *s);

#endif
