/* The process-tree sampler (procstat.h): a tree found from its root, each
 * process's stat held open, its CPU, memory and switches per sample;
 * procparse.c parses what /proc says. */
#include "procstat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

/* A process of the tree: its stat file held open (a pread regenerates
 * it, and fails once the process is gone, so a reused pid is never read
 * as ours), the figures of its last stat, and its details as of the
 * sample `refreshed` (0: never). */
struct el_proc_entry {
	pid_t pid;
	int stat_fd, dir_fd, sched_fd; /* /proc/PID/stat, /proc/PID, its schedstat; or -1 */
	struct el_proc_stat st;
	uint64_t run_ns; /* from schedstat, when has_run */
	bool has_run;
	long fds, pss_kib, ctx_v, ctx_iv;
	long rss_pages, threads; /* as they were when the details were read */
	uint64_t refreshed;
};

static void close_entry(struct el_proc_entry *e)
{
	if (e->stat_fd >= 0)
		close(e->stat_fd);
	if (e->dir_fd >= 0)
		close(e->dir_fd);
	if (e->sched_fd >= 0)
		close(e->sched_fd);
	e->stat_fd = e->dir_fd = e->sched_fd = -1;
}

int el_monitor_init(struct el_monitor *m, pid_t root)
{
	memset(m, 0, sizeof(*m));
	m->root = root;
	m->pss = true;
	snprintf(m->proc, sizeof(m->proc), "/proc");
	char path[96], buf[1024];
	snprintf(path, sizeof(path), "%s/%d/stat", m->proc, (int)root);
	if (el_proc_read(path, buf, sizeof(buf)) < 0)
		return -ESRCH;
	m->t0_us = el_io_now_us();
	return 0;
}

static void close_tree(struct el_proc_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close_entry(&v[i]);
}

void el_monitor_destroy(struct el_monitor *m)
{
	close_tree(m->tree, m->ntree);
	free(m->tree);
	free(m->others);
	free(m->last);
	m->tree = NULL;
	m->others = NULL;
	m->last = NULL;
	m->ntree = m->nothers = m->nlast = 0;
}

static int times_by_pid(const void *a, const void *b)
{
	const struct el_proc_times *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

static int times_by_pid_entry(const void *a, const void *b)
{
	const struct el_proc_entry *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

static struct el_proc_times *find_times(struct el_proc_times *v, size_t n, pid_t pid)
{
	if (n == 0)
		return NULL; /* v may be NULL, which bsearch must not get */
	struct el_proc_times key = {.pid = pid};
	return bsearch(&key, v, n, sizeof(*v), times_by_pid);
}

static uint64_t rise(uint64_t now, uint64_t before)
{
	return now > before ? now - before : 0;
}

double el_proc_ran_ticks(uint64_t du, uint64_t ds, double run_ticks)
{
	/* A tick of rounding allowed here once (not two) counted 20 ms for
	 * a process that ran 5 ms whenever its utime and stime both crossed
	 * a tick in one interval: 261 ms in a sample whose 40 processes ran
	 * at most 243 ms (CI, ASan step, 2026-12-02). */
	if (run_ticks >= 0 && (double)(du + ds) < run_ticks + 2.0)
		return run_ticks;
	return (double)(du + ds);
}

/* The tree's CPU ticks since the last sample, process by process: a live
 * process counts what its own times grew; a new one counts all of its
 * times; a parent counts what its reaped children's times (cutime,
 * cstime) grew, minus what those children had already counted when last
 * seen. Summing the tree's totals instead counted an exiting child twice,
 * once alive and again in its parent (a zombie's own times read as 0), and
 * showed 2500% on two CPUs while the fork server's children left. cur is
 * sorted by pid; it becomes the new last. */
static void tree_ticks(struct el_monitor *m, struct el_proc_times *cur, size_t n, double *user,
		       double *sys)
{
	double *cu = calloc(n ? n : 1, sizeof(*cu)), *cs = calloc(n ? n : 1, sizeof(*cs));
	*user = *sys = 0;
	/* A live process's share: its schedstat nanoseconds, split between
	 * user and system as its ticks grew (or have grown, when they did not
	 * move). utime and stime are whole clock ticks of each process: 500
	 * processes that each run a millisecond per interval showed 0% for
	 * their first seconds, then jumps of ±40%. */
	double hz = (double)sysconf(_SC_CLK_TCK);
	for (size_t i = 0; cu && cs && i < n; i++) {
		const struct el_proc_times *prev = find_times(m->last, m->nlast, cur[i].pid);
		if (!prev && !m->primed)
			continue;
		uint64_t du = prev ? rise(cur[i].utime, prev->utime) : cur[i].utime;
		uint64_t ds = prev ? rise(cur[i].stime, prev->stime) : cur[i].stime;
		cu[i] = (double)(prev ? rise(cur[i].cutime, prev->cutime) : cur[i].cutime) - (prev ? prev->owed_u : 0);
		cs[i] = (double)(prev ? rise(cur[i].cstime, prev->cstime) : cur[i].cstime) - (prev ? prev->owed_s : 0);
		double ticks = cur[i].has_run && (!prev || prev->has_run)
				       ? (double)(prev ? rise(cur[i].run_ns, prev->run_ns) : cur[i].run_ns) * hz / 1e9
				       : -1;
		double ran = el_proc_ran_ticks(du, ds, ticks);
		double u = (double)(du + ds ? du : cur[i].utime), sy = (double)(du + ds ? ds : cur[i].stime);
		double user_share = u + sy > 0 ? u / (u + sy) : 1.0;
		*user += ran * user_share;
		*sys += ran * (1.0 - user_share);
	}
	for (size_t j = 0; cu && cs && j < m->nlast; j++) {
		const struct el_proc_times *gone = &m->last[j];
		if (find_times(cur, n, gone->pid))
			continue;
		struct el_proc_times *parent = find_times(cur, n, gone->ppid);
		if (!parent)
			continue;
		/* What it had already counted: its ticks, or, when counted in
		 * nanoseconds, those (the ticks lag them by up to one, which
		 * would otherwise count twice: 111% from one busy child). */
		double u = (double)gone->utime, sy = (double)gone->stime;
		double ran = gone->has_run ? (double)gone->run_ns * hz / 1e9 : u + sy;
		double extra = ran > u + sy ? ran - (u + sy) : 0, share = u + sy > 0 ? u / (u + sy) : 1.0;
		cu[parent - cur] -= u + extra * share;
		cs[parent - cur] -= sy + extra * (1.0 - share);
	}
	/* A child can be found gone before its parent's cutime holds it (the
	 * parent read first, or pids wrapped): what it had counted is owed,
	 * and taken off its parent's next rise, not counted again. */
	for (size_t i = 0; cu && cs && i < n; i++) {
		*user += cu[i] > 0 ? cu[i] : 0;
		*sys += cs[i] > 0 ? cs[i] : 0;
		cur[i].owed_u = cu[i] < 0 ? -cu[i] : 0;
		cur[i].owed_s = cs[i] < 0 ? -cs[i] : 0;
	}
	free(cu);
	free(cs);
	free(m->last);
	m->last = cur;
	m->nlast = n;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

/* The pids of /proc, sorted: a readdir, no file read (about 0.1 ms for
 * 600 processes). */
static pid_t *list_pids(const char *proc, size_t *count)
{
	DIR *d = opendir(proc);
	if (!d)
		return NULL;
	size_t n = 0, cap = 1024;
	pid_t *v = malloc(cap * sizeof(*v));
	struct dirent *e;
	while (v && (e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		if (n == cap) {
			pid_t *nv = realloc(v, 2 * cap * sizeof(*v));
			if (!nv) {
				free(v);
				v = NULL;
				break;
			}
			v = nv;
			cap *= 2;
		}
		v[n++] = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	if (v)
		qsort(v, n, sizeof(*v), cmp_pid);
	*count = n;
	return v;
}

/* Reads and parses an entry's stat through its held fd (or by path when
 * none could be held). Returns 0, or -errno once the process is gone. */
static int read_entry_stat(const struct el_monitor *m, struct el_proc_entry *e)
{
	char buf[1024];
	ssize_t n;
	if (e->stat_fd >= 0) {
		do
			n = pread(e->stat_fd, buf, sizeof(buf) - 1, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		buf[n] = '\0';
	} else {
		char path[96];
		snprintf(path, sizeof(path), "%s/%d/stat", m->proc, (int)e->pid);
		if ((n = el_proc_read(path, buf, sizeof(buf))) < 0)
			return (int)n;
	}
	if (n == 0 || el_proc_parse_stat(buf, &e->st) < 0)
		return -ESRCH;
	/* The nanoseconds on a CPU, where the kernel keeps them: for one
	 * thread only (a process's schedstat is its main thread's; the
	 * thread model's main thread, waiting in accept, read as 0%), and
	 * one process's ticks are precise enough. */
	e->has_run = false;
	if (e->sched_fd >= 0 && e->st.threads <= 1) {
		do
			n = pread(e->sched_fd, buf, sizeof(buf) - 1, 0);
		while (n < 0 && errno == EINTR);
		if (n > 0) {
			buf[n] = '\0';
			char *end;
			e->run_ns = strtoull(buf, &end, 10);
			e->has_run = end != buf;
		}
	}
	return 0;
}

/* A process seen for the first time: its stat file opened and read. */
static int open_entry(const struct el_monitor *m, pid_t pid, struct el_proc_entry *e)
{
	char path[96];
	snprintf(path, sizeof(path), "%s/%d/stat", m->proc, (int)pid);
	*e = (struct el_proc_entry){.pid = pid, .dir_fd = -1, .sched_fd = -1};
	/* Without a free fd (a tree bigger than the fd limit), by path. */
	e->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = read_entry_stat(m, e);
	if (r < 0)
		close_entry(e);
	return r;
}

static struct el_proc_entry *find_entry(const struct el_proc_entry *v, size_t n, pid_t pid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].pid == pid ? (struct el_proc_entry *)&v[lo] : NULL;
}

static void add_switches(int dir, const char *status, struct el_proc_entry *e)
{
	char buf[4096];
	if (el_proc_read_at(dir, status, buf, sizeof(buf)) <= 0)
		return;
	long v = el_proc_field(buf, "voluntary_ctxt_switches:");
	long iv = el_proc_field(buf, "nonvoluntary_ctxt_switches:");
	e->ctx_v += v > 0 ? v : 0;
	e->ctx_iv += iv > 0 ? iv : 0;
}

/* Reads one process's details: fds, PSS, and the context switches of
 * each of its threads. Relative to the held /proc/PID (a lookup of one
 * name, not three), or by path when none is held. */
static void refresh_details(const struct el_monitor *m, struct el_proc_entry *e)
{
	char path[384], buf[4096];
	int dir = e->dir_fd;
	if (dir < 0) {
		snprintf(path, sizeof(path), "%s/%d", m->proc, (int)e->pid);
		dir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dir < 0)
			return;
	}
	/* Since Linux 6.2 the size of /proc/PID/fd is the count of open fds
	 * (a stat instead of a readdir); before, it is 0. */
	struct stat st;
	if (fstatat(dir, "fd", &st, 0) == 0 && st.st_size > 0) {
		e->fds = (long)st.st_size;
	} else {
		int fd = openat(dir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		e->fds = 0;
		for (struct dirent *de; d && (de = readdir(d));)
			e->fds += de->d_name[0] != '.';
		if (d)
			closedir(d);
		else if (fd >= 0)
			close(fd);
	}
	e->pss_kib = 0;
	if (m->pss && el_proc_read_at(dir, "smaps_rollup", buf, sizeof(buf)) > 0) {
		long pss = el_proc_field(buf, "Pss:");
		e->pss_kib = pss > 0 ? pss : 0;
	}
	/* A process's own status counts its main thread's switches only:
	 * with more threads, each task's status. */
	e->ctx_v = e->ctx_iv = 0;
	int fd = e->st.threads > 1 ? openat(dir, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d) {
		for (struct dirent *de; (de = readdir(d));) {
			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			snprintf(path, sizeof(path), "task/%s/status", de->d_name);
			add_switches(dir, path, e);
		}
		closedir(d);
	} else {
		if (fd >= 0)
			close(fd);
		add_switches(dir, "status", e);
	}
	if (dir != e->dir_fd)
		close(dir);
	e->rss_pages = e->st.rss_pages;
	e->threads = e->st.threads;
}

static int64_t thread_cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Reads details: of every process never read, whatever the budget (a
 * tree is never reported in part); then, within the budget and at least
 * one per sample, of those whose RSS or thread count moved since they
 * were read (their PSS, fds and switches most likely did too); then,
 * within the budget and at least one per sample, of the rest in turn
 * from the cursor. The turn always moves on, so no process's details
 * are older than the number of other processes in samples, however
 * often others move (on a busy machine under valgrind they moved every
 * sample, and the turn stalled). */
static void refresh_within_budget(struct el_monitor *m, int64_t cpu0)
{
	size_t done[3] = {0, 0, 0}, start = 0;
	while (start < m->ntree && m->tree[start].pid < m->cursor)
		start++;
	for (int pass = 0; pass < 3; pass++) {
		for (size_t k = 0; k < m->ntree; k++) {
			struct el_proc_entry *e = &m->tree[pass < 2 ? k : (start + k) % m->ntree];
			if (e->refreshed == m->samples || (pass == 0 && e->refreshed))
				continue;
			if (pass == 1 && e->rss_pages == e->st.rss_pages && e->threads == e->st.threads)
				continue;
			if (pass > 0 && done[pass] > 0 && m->detail_budget_us > 0 &&
			    thread_cpu_us() - cpu0 >= m->detail_budget_us) {
				if (pass == 2)
					return;
				break; /* on to the turn, which takes one at least */
			}
			refresh_details(m, e);
			e->refreshed = m->samples;
			done[pass]++;
			if (pass == 2)
				m->cursor = e->pid + 1;
		}
	}
}

/* Reads the stat of each known process, children before their parents
 * (in falling pid order, as pids are handed out rising): a child reaped
 * between the two reads is then either still alive in its own stat or
 * already in its parent's cutime, never missed by one and counted whole
 * by the other later (a sample of 199% from one busy child at a time).
 * Drops the processes that are gone; returns how many are left, in pid
 * order. */
static size_t read_known(struct el_monitor *m, struct el_proc_entry *v, size_t n)
{
	for (size_t i = n; i-- > 0;)
		if (read_entry_stat(m, &v[i]) < 0) {
			close_entry(&v[i]);
			v[i].pid = -1;
		}
	size_t kept = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].pid != -1)
			v[kept++] = v[i];
	return kept;
}

/* Brings the tree up to date with the pids of /proc: an entry whose
 * process is gone leaves, a pid not seen before is read once and joins
 * when its parent is in the tree (or it is the root), else it is
 * remembered as not ours. Returns 0 or -ENOMEM. */
/* Which new processes (fresh, in pid order as the listing was) are the
 * tree's: repeatedly, those whose parent is in the tree or joined (a
 * child's pid is not always above its parent's). Each joins tree (its
 * files opened, its times and nanoseconds read together, as every later
 * sample reads them) or others. Returns 0 or -ENOMEM; fresh's entries are
 * moved or closed either way. */
static int join_fresh(struct el_monitor *m, struct el_proc_entry *fresh, size_t nfresh, struct el_proc_entry *tree,
		      size_t *ntree, pid_t *others, size_t *nothers)
{
	bool *joined = calloc(nfresh ? nfresh : 1, sizeof(*joined));
	if (!joined) {
		close_tree(fresh, nfresh);
		return -ENOMEM;
	}
	size_t ntree_old = *ntree;
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < nfresh; i++) {
			if (joined[i])
				continue;
			pid_t pp = fresh[i].st.ppid;
			const struct el_proc_entry *parent = find_entry(fresh, nfresh, pp);
			if (fresh[i].pid == m->root || find_entry(tree, ntree_old, pp) ||
			    (parent && joined[parent - fresh]))
				joined[i] = grew = true;
		}
	}
	for (size_t i = 0; i < nfresh; i++) {
		if (!joined[i]) {
			close_entry(&fresh[i]);
			others[(*nothers)++] = fresh[i].pid;
			continue;
		}
		char path[96];
		snprintf(path, sizeof(path), "%s/%d", m->proc, (int)fresh[i].pid);
		fresh[i].dir_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fresh[i].dir_fd >= 0)
			fresh[i].sched_fd = openat(fresh[i].dir_fd, "schedstat", O_RDONLY | O_CLOEXEC);
		if (fresh[i].sched_fd >= 0 && read_entry_stat(m, &fresh[i]) < 0) {
			close_entry(&fresh[i]);
			continue;
		}
		tree[(*ntree)++] = fresh[i];
	}
	free(joined);
	return 0;
}

static int update_tree(struct el_monitor *m)
{
	/* The last field of loadavg is the last pid the kernel gave out: when
	 * it has not moved, no process is new and the listing can be skipped
	 * (a fifth of a sample's cost on a steady 500-process tree). */
	char path[96], buf[256];
	snprintf(path, sizeof(path), "%s/loadavg", m->proc);
	const char *last = NULL;
	if (el_proc_read(path, buf, sizeof(buf)) > 0 && (last = strrchr(buf, ' ')))
		last++;
	long last_pid = last ? strtol(last, NULL, 10) : -1;
	if (last_pid > 0 && last_pid == m->last_pid) {
		m->ntree = read_known(m, m->tree, m->ntree);
		return 0;
	}
	m->last_pid = last_pid;
	size_t n = 0;
	pid_t *pids = list_pids(m->proc, &n);
	if (!pids)
		return -ENOMEM;
	struct el_proc_entry *fresh = malloc((n ? n : 1) * sizeof(*fresh));
	struct el_proc_entry *tree = malloc((n ? n : 1) * sizeof(*tree));
	pid_t *others = malloc((n ? n : 1) * sizeof(*others));
	if (!fresh || !tree || !others) {
		free(pids);
		free(fresh);
		free(tree);
		free(others);
		return -ENOMEM;
	}
	size_t nfresh = 0, ntree = 0, nothers = 0, t = 0, o = 0;
	for (size_t i = 0; i < n; i++) {
		pid_t pid = pids[i];
		while (t < m->ntree && m->tree[t].pid < pid)
			close_entry(&m->tree[t++]); /* gone */
		while (o < m->nothers && m->others[o] < pid)
			o++;
		if (t < m->ntree && m->tree[t].pid == pid) {
			tree[ntree++] = m->tree[t++]; /* read below */
		} else if (o < m->nothers && m->others[o] == pid) {
			others[nothers++] = pid;
		} else if (open_entry(m, pid, &fresh[nfresh]) == 0) {
			nfresh++;
		}
	}
	for (; t < m->ntree; t++)
		close_entry(&m->tree[t]);
	free(pids);
	ntree = read_known(m, tree, ntree);
	int rc = join_fresh(m, fresh, nfresh, tree, &ntree, others, &nothers);
	free(fresh);
	if (rc < 0) {
		close_tree(tree, ntree);
		free(tree);
		free(others);
		free(m->tree);
		m->tree = NULL;
		m->ntree = 0;
		return rc;
	}
	/* Both lists merged out of order: sort them again. */
	qsort(tree, ntree, sizeof(*tree), times_by_pid_entry);
	qsort(others, nothers, sizeof(*others), cmp_pid);
	free(m->tree);
	free(m->others);
	m->tree = tree;
	m->ntree = ntree;
	m->others = others;
	m->nothers = nothers;
	return 0;
}

int el_monitor_sample(struct el_monitor *m, struct el_proc_sample *s)
{
	memset(s, 0, sizeof(*s));
	int64_t cpu0 = thread_cpu_us();
	m->samples++;
	int r = update_tree(m);
	if (r < 0)
		return r;
	/* The CPU figures are the stat lines just read: time them now, not
	 * after the slower per-process reads below (on a loaded machine those
	 * can take seconds, and a late timestamp turned one interval's CPU
	 * into 9000%). */
	int64_t t = el_io_now_us();
	struct el_proc_cpu cpu = {0};
	char path[128], buf[4096];
	snprintf(path, sizeof(path), "%s/stat", m->proc);
	if (el_proc_read(path, buf, sizeof(buf)) > 0)
		el_proc_parse_cpu(buf, &cpu);
	struct el_proc_entry *root = find_entry(m->tree, m->ntree, m->root);
	if (!root || root->st.state == 'Z' || root->st.state == 'X')
		return -ESRCH;
	long page_kib = sysconf(_SC_PAGESIZE) / 1024;
	struct el_proc_times *cur = malloc((m->ntree ? m->ntree : 1) * sizeof(*cur));
	if (!cur)
		return -ENOMEM;
	size_t ncur = 0;
	for (size_t i = 0; i < m->ntree; i++) {
		const struct el_proc_stat *st = &m->tree[i].st;
		s->procs++;
		s->threads += st->threads;
		s->rss_kib += st->rss_pages * page_kib;
		/* A zombie's times read as 0 until it is reaped: keep what it
		 * had, so its parent's cutime is not counted twice. */
		struct el_proc_times *prev = find_times(m->last, m->nlast, st->pid);
		if (st->state == 'Z' && prev) {
			/* Its schedstat still holds all it ran: the interval it
			 * ended in counts it, not the one it is reaped in. */
			cur[ncur] = *prev;
			if (prev->has_run && m->tree[i].has_run)
				cur[ncur].run_ns = m->tree[i].run_ns;
			ncur++;
		} else if (st->state != 'Z')
			cur[ncur++] = (struct el_proc_times){.pid = st->pid,
							     .ppid = st->ppid,
							     .utime = st->utime,
							     .stime = st->stime,
							     .cutime = st->cutime,
							     .cstime = st->cstime,
							     .run_ns = m->tree[i].run_ns,
							     .has_run = m->tree[i].has_run};
	}
	refresh_within_budget(m, cpu0);
	s->detail_age = 0;
	for (size_t i = 0; i < m->ntree; i++) {
		const struct el_proc_entry *e = &m->tree[i];
		s->fds += e->fds;
		s->pss_kib += e->pss_kib;
		s->ctx_voluntary += e->ctx_v;
		s->ctx_involuntary += e->ctx_iv;
		long age = (long)(m->samples - e->refreshed);
		s->detail_age = age > s->detail_age ? age : s->detail_age;
	}

	snprintf(path, sizeof(path), "%s/meminfo", m->proc);
	if (el_proc_read(path, buf, sizeof(buf)) > 0)
		el_proc_parse_meminfo(buf, &s->mem);

	s->t_s = (double)(t - m->t0_us) / 1e6;
	double utime, stime;
	tree_ticks(m, cur, ncur, &utime, &stime); /* cur is m->last now */
	if (m->primed && t > m->last_us) {
		double ticks = (double)sysconf(_SC_CLK_TCK) * (double)(t - m->last_us) / 1e6;
		s->cpu_user_pct = 100.0 * utime / ticks;
		s->cpu_sys_pct = 100.0 * stime / ticks;
		const struct el_proc_cpu *a = &m->last_cpu;
		double d_user = (double)(cpu.user - a->user), d_nice = (double)(cpu.nice - a->nice);
		double d_sys = (double)(cpu.system + cpu.irq + cpu.softirq - a->system - a->irq - a->softirq);
		double d_idle = (double)(cpu.idle - a->idle), d_io = (double)(cpu.iowait - a->iowait);
		double d_steal = (double)(cpu.steal - a->steal);
		double total = d_user + d_nice + d_sys + d_idle + d_io + d_steal;
		if (total > 0) {
			s->sys_user_pct = 100.0 * d_user / total;
			s->sys_nice_pct = 100.0 * d_nice / total;
			s->sys_sys_pct = 100.0 * d_sys / total;
			s->sys_idle_pct = 100.0 * d_idle / total;
			s->sys_iowait_pct = 100.0 * d_io / total;
		}
	}
	m->primed = true;
	m->last_us = t;
	m->last_cpu = cpu;
	return 0;
}

void el_monitor_write_header(FILE *f)
{
	fputs("t_s,procs,threads,cpu_user_pct,cpu_sys_pct,rss_kib,pss_kib,fds,"
	      "ctx_voluntary,ctx_involuntary,sys_mem_total_kib,sys_mem_used_kib,"
	      "sys_mem_free_kib,sys_mem_shared_kib,sys_mem_buffers_kib,sys_mem_cached_kib,"
	      "sys_cpu_user_pct,sys_cpu_sys_pct,sys_cpu_nice_pct,sys_cpu_idle_pct,"
	      "sys_cpu_iowait_pct,late_ms\n",
	      f);
}

void el_monitor_write_row(FILE *f, const struct el_proc_sample *s)
{
	fprintf(f, "%.3f,%ld,%ld,%.2f,%.2f,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%.2f,%.2f,%.2f,%.2f,%.2f,%.1f\n",
		s->t_s, s->procs, s->threads, s->cpu_user_pct, s->cpu_sys_pct, s->rss_kib, s->pss_kib,
		s->fds, s->ctx_voluntary, s->ctx_involuntary, s->mem.total_kib, s->mem.used_kib,
		s->mem.free_kib, s->mem.shared_kib, s->mem.buffers_kib, s->mem.cached_kib,
		s->sys_user_pct, s->sys_sys_pct, s->sys_nice_pct, s->sys_idle_pct, s->sys_iowait_pct,
		s->late_ms);
}

int el_monitor_prioritize(void)
{
	struct sched_param sp = {.sched_priority = 1};
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0)
		return 0;
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), -10) == 0)
		return 1;
	return -errno;
}
