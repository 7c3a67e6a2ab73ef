/* Process and system figures from /proc for echolab-monitor and the
 * benchmark: parsers of the /proc text formats (testable on fixture text)
 * and a sampler of a process tree. */
#ifndef EL_PROCSTAT_H
#define EL_PROCSTAT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* The fields of /proc/PID/stat echolab uses. */
struct el_proc_stat {
	pid_t pid, ppid;
	char state;
	uint64_t utime, stime, cutime, cstime; /* clock ticks */
	long threads;
	long rss_pages;
};

/* Parses the text of /proc/PID/stat (the command name may hold spaces and
 * parentheses). Returns 0 or -EINVAL. */
int el_proc_parse_stat(const char *text, struct el_proc_stat *st);

/* Returns the value of a "Key:   value kB" or "Key:\tvalue" line of a
 * /proc file (status, smaps_rollup, meminfo; key given with its colon),
 * or -ENOENT. */
long el_proc_field(const char *text, const char *key);

struct el_proc_meminfo {
	long total_kib, free_kib, shared_kib, buffers_kib, cached_kib, used_kib;
};

/* Parses /proc/meminfo as free(1) reads it: cached includes
 * SReclaimable, used = total - free - buffers - cached. Returns 0 or
 * -EINVAL. */
int el_proc_parse_meminfo(const char *text, struct el_proc_meminfo *m);

struct el_proc_cpu {
	uint64_t user, nice, system, idle, iowait, irq, softirq, steal;
};

/* Parses the "cpu " line of /proc/stat. Returns 0 or -EINVAL. */
int el_proc_parse_cpu(const char *text, struct el_proc_cpu *c);

/* Reads a whole small file into buf (NUL-terminated). Returns its length
 * or -errno. */
ssize_t el_proc_read(const char *path, char *buf, size_t size);
/* The same, path relative to the directory fd dir (AT_FDCWD: as given). */
ssize_t el_proc_read_at(int dir, const char *path, char *buf, size_t size);

/* One row of echolab-monitor's CSV (docs/interface.md). CPU figures are
 * percent of one CPU for the tree (can exceed 100 on several CPUs) and
 * percent of all CPUs for the system, over the interval since the last
 * sample. */
struct el_proc_sample {
	double t_s;
	long procs, threads;
	double cpu_user_pct, cpu_sys_pct;
	long rss_kib, pss_kib, fds;
	long ctx_voluntary, ctx_involuntary; /* cumulative, tasks alive now */
	struct el_proc_meminfo mem;
	double sys_user_pct, sys_sys_pct, sys_nice_pct, sys_idle_pct, sys_iowait_pct;
	/* How late the sample was taken after its slot on the schedule, in
	 * milliseconds (the CSV's last column; the caller sets it). */
	double late_ms;
	/* Not in the CSV: how many samples old the oldest per-process detail
	 * (pss_kib, fds, ctx_*) is; 0: all read in this sample. */
	long detail_age;
};

/* CPU times of one process of the tree at the last sample. */
struct el_proc_times {
	pid_t pid, ppid;
	uint64_t utime, stime, cutime, cstime;
	uint64_t run_ns; /* schedstat's time on a CPU, when has_run */
	bool has_run;
	/* Ticks of gone children not yet in this process's cutime/cstime
	 * (read before the kernel added them): taken off when they come. */
	double owed_u, owed_s;
};

/* The clock ticks one process ran in an interval, given how its utime and
 * stime grew (du, ds: whole ticks) and its schedstat nanoseconds as ticks
 * (run_ticks; negative when there are none). Each of utime and stime is
 * truncated to a whole tick on its own, so their sum may grow by up to two
 * ticks more than the process ran: then the nanoseconds are the figure.
 * Ticks beyond that are threads that came and went between samples, which
 * the main thread's schedstat never held: then the ticks are. */
double el_proc_ran_ticks(uint64_t du, uint64_t ds, double run_ticks);

struct el_proc_entry; /* a process of the tree (procstat.c) */

struct el_monitor {
	pid_t root;
	char proc[64]; /* "/proc", or a test's copy */
	bool pss;      /* read smaps_rollup (costs more on big trees) */
	/* CPU time a sample may spend, in microseconds, before it stops
	 * refreshing per-process details (PSS, fds, context switches) and
	 * keeps the rest from earlier samples; 0: no limit. A new process's
	 * are read at once, whatever the budget; then at least one process is
	 * refreshed per sample, those whose RSS moved first, then in turn. */
	int64_t detail_budget_us;
	int64_t t0_us, last_us;
	struct el_proc_times *last; /* the tree at the last sample, by pid */
	size_t nlast;
	struct el_proc_entry *tree; /* the tree's processes, by pid */
	size_t ntree;
	pid_t *others; /* pids seen last time that are not in the tree, sorted */
	size_t nothers;
	uint64_t samples;
	long last_pid; /* the last pid given out (loadavg) at the last listing */
	pid_t cursor; /* the next process whose details are refreshed in turn */
	struct el_proc_cpu last_cpu;
	bool primed;
};

/* Starts watching pid and its descendants. Returns 0, or -ESRCH.
 * el_monitor_destroy frees what sampling keeps. A process stays in the
 * tree from the sample that finds it (its parent was in the tree) until it
 * exits, even if its parent exits first. */
int el_monitor_init(struct el_monitor *m, pid_t root);
void el_monitor_destroy(struct el_monitor *m);
/* Takes one sample. Returns 0, or -ESRCH once the root has exited (a
 * zombie root counts as exited), or -ENOMEM. Each process's stat file is
 * held open, and only pids not seen before are read to find the tree, so
 * a sample of a 500-process tree costs about a millisecond before the
 * details. */
int el_monitor_sample(struct el_monitor *m, struct el_proc_sample *s);

/* Raises the calling thread's priority so a loaded machine does not delay
 * its samples (with 300 busy server processes a fair share stretched one
 * sample to 6 s): SCHED_FIFO when allowed (returns 0), else nice -10
 * (returns 1), else -errno. A sample costs milliseconds, so the rest of
 * the machine barely notices. */
int el_monitor_prioritize(void);

void el_monitor_write_header(FILE *f);
void el_monitor_write_row(FILE *f, const struct el_proc_sample *s);

#endif
