#include "procstat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int el_proc_parse_stat(const char *text, struct el_proc_stat *st)
{
	/* "pid (comm) state ppid ...": comm may contain ") ", so the fields
	 * start after the last ')'. */
	const char *close = strrchr(text, ')');
	if (!close || close[1] != ' ')
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->pid = (pid_t)strtol(text, NULL, 10);
	const char *p = close + 2;
	st->state = *p;
	/* Fields from 3 (state) on, numbered as proc(5) does. */
	unsigned long long v[25] = {0};
	int n = 0;
	p++;
	while (*p && n < 21) {
		char *end;
		long long x = strtoll(p, &end, 10);
		if (end == p)
			return -EINVAL;
		v[4 + n] = (unsigned long long)x;
		n++;
		p = end;
	}
	if (n < 21) /* up to rss, field 24 */
		return -EINVAL;
	st->ppid = (pid_t)v[4];
	st->utime = v[14];
	st->stime = v[15];
	st->cutime = v[16];
	st->cstime = v[17];
	st->threads = (long)v[20];
	st->rss_pages = (long)v[24];
	return 0;
}

long el_proc_field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0) {
			char *end;
			long v = strtol(p + klen, &end, 10);
			return end == p + klen ? -ENOENT : v;
		}
	}
	return -ENOENT;
}

int el_proc_parse_meminfo(const char *text, struct el_proc_meminfo *m)
{
	long total = el_proc_field(text, "MemTotal:");
	long free_ = el_proc_field(text, "MemFree:");
	long buffers = el_proc_field(text, "Buffers:");
	long cached = el_proc_field(text, "Cached:");
	long shared = el_proc_field(text, "Shmem:");
	long srec = el_proc_field(text, "SReclaimable:");
	if (total < 0 || free_ < 0 || buffers < 0 || cached < 0)
		return -EINVAL;
	m->total_kib = total;
	m->free_kib = free_;
	m->buffers_kib = buffers;
	m->cached_kib = cached + (srec > 0 ? srec : 0);
	m->shared_kib = shared > 0 ? shared : 0;
	m->used_kib = total - free_ - buffers - m->cached_kib;
	if (m->used_kib < 0)
		m->used_kib = total - free_;
	return 0;
}

int el_proc_parse_cpu(const char *text, struct el_proc_cpu *c)
{
	const char *p = strstr(text, "cpu ");
	if (!p || (p != text && p[-1] != '\n'))
		return -EINVAL;
	unsigned long long v[8] = {0};
	int n = sscanf(p + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		       &v[4], &v[5], &v[6], &v[7]);
	if (n < 4)
		return -EINVAL;
	*c = (struct el_proc_cpu){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
	return 0;
}

ssize_t el_proc_read(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(fd);
			return -err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long count_dir(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return 0;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
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
	m->t0_us = now_us();
	return 0;
}

void el_monitor_destroy(struct el_monitor *m)
{
	free(m->last);
	m->last = NULL;
	m->nlast = 0;
}

struct node {
	pid_t pid, ppid;
	struct el_proc_stat st;
};

static int times_by_pid(const void *a, const void *b)
{
	const struct el_proc_times *x = a, *y = b;
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

/* The tree's CPU ticks since the last sample, process by process: a live
 * process counts what its own times grew; a new one counts all of its
 * times; a parent counts what its reaped children's times (cutime,
 * cstime) grew, minus what those children had already counted when last
 * seen. Summing the tree's totals instead counted an exiting child twice,
 * once alive and again in its parent (a zombie's own times read as 0), and
 * showed 2500% on two CPUs while the fork server's children left. cur is
 * sorted by pid; it becomes the new last. */
static void tree_ticks(struct el_monitor *m, struct el_proc_times *cur, size_t n, uint64_t *user,
		       uint64_t *sys)
{
	int64_t *cu = calloc(n ? n : 1, sizeof(*cu)), *cs = calloc(n ? n : 1, sizeof(*cs));
	*user = *sys = 0;
	for (size_t i = 0; cu && cs && i < n; i++) {
		const struct el_proc_times *prev = find_times(m->last, m->nlast, cur[i].pid);
		if (prev) {
			*user += rise(cur[i].utime, prev->utime);
			*sys += rise(cur[i].stime, prev->stime);
			cu[i] = (int64_t)rise(cur[i].cutime, prev->cutime);
			cs[i] = (int64_t)rise(cur[i].cstime, prev->cstime);
		} else if (m->primed) {
			*user += cur[i].utime;
			*sys += cur[i].stime;
			cu[i] = (int64_t)cur[i].cutime;
			cs[i] = (int64_t)cur[i].cstime;
		}
	}
	for (size_t j = 0; cu && cs && j < m->nlast; j++) {
		const struct el_proc_times *gone = &m->last[j];
		if (find_times(cur, n, gone->pid))
			continue;
		struct el_proc_times *parent = find_times(cur, n, gone->ppid);
		if (parent) {
			cu[parent - cur] -= (int64_t)gone->utime;
			cs[parent - cur] -= (int64_t)gone->stime;
		}
	}
	for (size_t i = 0; cu && cs && i < n; i++) {
		*user += cu[i] > 0 ? (uint64_t)cu[i] : 0;
		*sys += cs[i] > 0 ? (uint64_t)cs[i] : 0;
	}
	free(cu);
	free(cs);
	free(m->last);
	m->last = cur;
	m->nlast = n;
}

static int by_pid(const void *a, const void *b)
{
	const struct node *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Every process of the system with its parent, sorted by pid. */
static struct node *scan(const char *proc, size_t *count)
{
	DIR *d = opendir(proc);
	if (!d)
		return NULL;
	size_t n = 0, cap = 1024;
	struct node *v = malloc(cap * sizeof(*v));
	struct dirent *e;
	char path[384], buf[1024];
	while (v && (e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "%s/%s/stat", proc, e->d_name);
		struct el_proc_stat st;
		if (el_proc_read(path, buf, sizeof(buf)) < 0 || el_proc_parse_stat(buf, &st) < 0)
			continue;
		if (n == cap) {
			struct node *nv = realloc(v, 2 * cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
			cap *= 2;
		}
		v[n++] = (struct node){st.pid, st.ppid, st};
	}
	closedir(d);
	if (v)
		qsort(v, n, sizeof(*v), by_pid);
	*count = n;
	return v;
}

/* Sums over the threads of one process. */
static void add_tasks(const struct el_monitor *m, pid_t pid, struct el_proc_sample *s)
{
	char path[384], buf[4096];
	snprintf(path, sizeof(path), "%s/%d/task", m->proc, (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "%s/%d/task/%s/status", m->proc, (int)pid, e->d_name);
		if (el_proc_read(path, buf, sizeof(buf)) < 0)
			continue;
		long v = el_proc_field(buf, "voluntary_ctxt_switches:");
		long iv = el_proc_field(buf, "nonvoluntary_ctxt_switches:");
		s->ctx_voluntary += v > 0 ? v : 0;
		s->ctx_involuntary += iv > 0 ? iv : 0;
	}
	closedir(d);
}

int el_monitor_sample(struct el_monitor *m, struct el_proc_sample *s)
{
	memset(s, 0, sizeof(*s));
	size_t n = 0;
	struct node *all = scan(m->proc, &n);
	if (!all)
		return -ENOMEM;
	/* The CPU figures are the stat lines just read: time them now, not
	 * after the slower per-process reads below (on a loaded machine those
	 * can take seconds, and a late timestamp turned one interval's CPU
	 * into 9000%). */
	int64_t t = now_us();
	struct el_proc_cpu cpu = {0};
	char path[128], buf[4096];
	snprintf(path, sizeof(path), "%s/stat", m->proc);
	if (el_proc_read(path, buf, sizeof(buf)) > 0)
		el_proc_parse_cpu(buf, &cpu);
	struct node key = {.pid = m->root};
	struct node *root = bsearch(&key, all, n, sizeof(*all), by_pid);
	if (!root || root->st.state == 'Z' || root->st.state == 'X') {
		free(all);
		return -ESRCH;
	}
	/* The tree: the root, then repeatedly every process whose parent is
	 * in it (pids of children are not always higher than their parent's). */
	bool *in = calloc(n, sizeof(*in));
	if (!in) {
		free(all);
		return -ENOMEM;
	}
	in[root - all] = true;
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			if (in[i])
				continue;
			key.pid = all[i].ppid;
			struct node *p = bsearch(&key, all, n, sizeof(*all), by_pid);
			if (p && in[p - all]) {
				in[i] = true;
				grew = true;
			}
		}
	}
	long page_kib = sysconf(_SC_PAGESIZE) / 1024;
	struct el_proc_times *cur = malloc((n ? n : 1) * sizeof(*cur));
	size_t ncur = 0;
	if (!cur) {
		free(in);
		free(all);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (!in[i])
			continue;
		const struct el_proc_stat *st = &all[i].st;
		s->procs++;
		s->threads += st->threads;
		s->rss_kib += st->rss_pages * page_kib;
		/* A zombie's times read as 0 until it is reaped: keep what it
		 * had, so its parent's cutime is not counted twice. */
		struct el_proc_times *prev = find_times(m->last, m->nlast, st->pid);
		if (st->state == 'Z' && prev)
			cur[ncur++] = *prev;
		else if (st->state != 'Z')
			cur[ncur++] = (struct el_proc_times){st->pid, st->ppid, st->utime, st->stime,
							     st->cutime, st->cstime};
		snprintf(path, sizeof(path), "%s/%d/fd", m->proc, (int)st->pid);
		s->fds += count_dir(path);
		if (m->pss) {
			snprintf(path, sizeof(path), "%s/%d/smaps_rollup", m->proc, (int)st->pid);
			if (el_proc_read(path, buf, sizeof(buf)) > 0) {
				long pss = el_proc_field(buf, "Pss:");
				s->pss_kib += pss > 0 ? pss : 0;
			}
		}
		add_tasks(m, st->pid, s);
	}
	free(in);
	free(all);

	snprintf(path, sizeof(path), "%s/meminfo", m->proc);
	if (el_proc_read(path, buf, sizeof(buf)) > 0)
		el_proc_parse_meminfo(buf, &s->mem);

	s->t_s = (double)(t - m->t0_us) / 1e6;
	uint64_t utime, stime;
	tree_ticks(m, cur, ncur, &utime, &stime); /* cur is m->last now */
	if (m->primed && t > m->last_us) {
		double ticks = (double)sysconf(_SC_CLK_TCK) * (double)(t - m->last_us) / 1e6;
		s->cpu_user_pct = 100.0 * (double)utime / ticks;
		s->cpu_sys_pct = 100.0 * (double)stime / ticks;
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
	      "sys_cpu_iowait_pct\n",
	      f);
}

void el_monitor_write_row(FILE *f, const struct el_proc_sample *s)
{
	fprintf(f, "%.3f,%ld,%ld,%.2f,%.2f,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%.2f,%.2f,%.2f,%.2f,%.2f\n",
		s->t_s, s->procs, s->threads, s->cpu_user_pct, s->cpu_sys_pct, s->rss_kib, s->pss_kib,
		s->fds, s->ctx_voluntary, s->ctx_involuntary, s->mem.total_kib, s->mem.used_kib,
		s->mem.free_kib, s->mem.shared_kib, s->mem.buffers_kib, s->mem.cached_kib,
		s->sys_user_pct, s->sys_sys_pct, s->sys_nice_pct, s->sys_idle_pct, s->sys_iowait_pct);
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
