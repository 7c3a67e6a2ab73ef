#include "load_engine.h"
#include "intervals.h"
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "io.h"
#include "reply.h"

static const char *const error_names[EL_LOAD_NERRORS] = {
	"refused", "connect", "reset", "timeout", "wrong", "busy",
};

const char *el_load_error_name(int kind)
{
	return kind >= 0 && kind < EL_LOAD_NERRORS ? error_names[kind] : "?";
}

struct el_load *el_load_create(const struct el_load_cfg *cfg, char *err, size_t errlen)
{
	struct el_load *l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->cfg = *cfg;
	l->gate_fd = -1;
	l->ready = -1;
	char port[16];
	snprintf(port, sizeof(port), "%u", cfg->port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	int rc = getaddrinfo(cfg->host, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", cfg->host, gai_strerror(rc));
		free(l);
		return NULL;
	}
	memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
	l->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);

	l->line_len = cfg->msg_len + 1;
	size_t copies = 65536 / l->line_len + 1;
	l->rep_len = copies * l->line_len;
	l->rep = malloc(l->rep_len);
	/* A reply is the message with at most TIME, ADDR and PORT around it. */
	l->part_max = cfg->raw ? l->line_len : l->line_len + 128;
	l->nshards = cfg->spawn ? (size_t)cfg->conns : cfg->processes > 0 ? (size_t)cfg->processes : (size_t)cfg->threads;
	if (l->nshards > (size_t)cfg->conns)
		l->nshards = (size_t)cfg->conns;
	size_t bytes = l->nshards * sizeof(*l->shards);
	l->shared = cfg->spawn || cfg->processes > 0;
	if (l->shared) {
		l->shards = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (l->shards == MAP_FAILED)
			l->shards = NULL;
	} else {
		l->shards = malloc(bytes);
	}
	l->workers = calloc(l->nshards, sizeof(*l->workers));
	/* Sessions close their connections: no gate to hold them at. */
	l->gated = cfg->count <= 0 && cfg->connect_rate <= 0 && cfg->duration_s > 0 && cfg->session <= 0;
	l->gate = mmap(NULL, sizeof(*l->gate), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (l->gate == MAP_FAILED)
		l->gate = NULL;
	if (l->gated)
		l->gate_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!l->rep || !l->shards || !l->workers || !l->gate || (l->gated && l->gate_fd < 0)) {
		snprintf(err, errlen, "out of memory for %zu workers", l->nshards);
		el_load_destroy(l);
		return NULL;
	}
	for (size_t i = 0; i < copies; i++) {
		memcpy(l->rep + i * l->line_len, cfg->msg, cfg->msg_len);
		l->rep[i * l->line_len + cfg->msg_len] = '\n';
	}
	for (size_t i = 0; i < l->nshards; i++) {
		memset(&l->shards[i], 0, sizeof(l->shards[i]));
		el_hist_init(&l->shards[i].hist);
		el_hist_init(&l->shards[i].late);
		el_hist_init(&l->shards[i].connect);
		el_hist_init(&l->shards[i].first_reply);
	}
	l->interval_us = cfg->rate > 0 ? (int64_t)(1e6 / cfg->rate) : 0;
	l->mean_gap_us = cfg->rate > 0 ? 1e6 / cfg->rate : 0;
	l->burst = cfg->burst > 1 && !cfg->poisson ? (uint64_t)cfg->burst : 1;
	if (cfg->rate > 0 && l->interval_us < 1)
		l->interval_us = 1;
	/* Fixed arrivals go up to the lateness bound (a tenth of the gap)
	 * early as well as late (decisions 68); Poisson's gaps are tested as
	 * sent, so never early. */
	l->early_us = cfg->poisson ? 0 : l->interval_us / 10;
	return l;
}

void el_load_destroy(struct el_load *l)
{
	if (!l)
		return;
	if (l->shared && l->shards)
		munmap(l->shards, l->nshards * sizeof(*l->shards));
	else
		free(l->shards);
	if (l->gate)
		munmap(l->gate, sizeof(*l->gate));
	if (l->gate_fd >= 0)
		close(l->gate_fd);
	free(l->workers);
	free(l->rep);
	free(l);
}

static void wait_workers(struct el_load *l, void (*progress)(struct el_load *, double, void *), void *arg)
{
	bool passed_on = false;
	for (;;) {
		/* A stop that reached this process alone (kill -INT PID, not a
		 * terminal's Ctrl-C to the group) reaches the workers' processes
		 * too: each ends its run and publishes what it measured. */
		if (l->pids && *l->cfg.stop && !passed_on) {
			for (size_t i = 0; i < l->nshards; i++)
				if (l->pids[i] > 0)
					kill(l->pids[i], SIGINT);
			passed_on = true;
		}
		bool done = true;
		for (size_t i = 0; i < l->nshards; i++)
			done &= __atomic_load_n(&l->shards[i].done, __ATOMIC_ACQUIRE) != 0;
		if (done)
			return;
		int64_t now = el_io_now_us();
		if (progress)
			progress(l, (double)(now - l->start_us) / 1e6, arg);
		/* Up to a second, less when the end is near. */
		int64_t wait = 1000000 - (now - l->start_us) % 1000000;
		if (l->end_us - now > 0 && l->end_us - now < wait)
			wait = l->end_us - now + 1000;
		for (int64_t t = 0; t < wait; t += 20000) {
			struct timespec ts = {0, 20000000};
			nanosleep(&ts, NULL);
			bool all = true;
			for (size_t i = 0; i < l->nshards && all; i++)
				all = __atomic_load_n(&l->shards[i].done, __ATOMIC_ACQUIRE) != 0;
			if (all)
				break;
		}
	}
}

static double unix_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sets the run's clock from start: the warm-up, then the window. */
static void set_clock(struct el_load *l, int64_t start)
{
	l->start_us = start;
	l->window_us = start + (int64_t)(l->cfg.warmup_s * 1e6);
	l->end_us = l->cfg.duration_s > 0 ? l->window_us + (int64_t)(l->cfg.duration_s * 1e6) : INT64_MAX;
	l->window_unix = unix_now() + (double)(l->window_us - el_io_now_us()) / 1e6;
}

/* The start of the run's clock: now, or --start-at's wall-clock time,
 * waited for (a stop ends the wait); a start already past is taken now
 * and how late it was is kept. */
static int64_t clock_start(struct el_load *l)
{
	double at = l->cfg.start_at_unix;
	if (at <= 0)
		return el_io_now_us();
	for (;;) {
		double left = at - unix_now();
		if (left <= 0 || *l->cfg.stop)
			break;
		/* The last millisecond spun, so that every instance starts
		 * within well under one. */
		if (left > 0.002) {
			double nap = left - 0.001 < 0.05 ? left - 0.001 : 0.05;
			struct timespec ts = {0, (long)(nap * 1e9)};
			nanosleep(&ts, NULL);
		}
	}
	double late = unix_now() - at;
	l->start_late_s = late > 0 ? late : 0;
	return el_io_now_us();
}

static long reached(struct el_load *l, bool settled)
{
	long n = 0;
	for (size_t i = 0; i < l->nshards; i++)
		n += settled ? __atomic_load_n(&l->shards[i].settled, __ATOMIC_ACQUIRE)
			     : __atomic_load_n(&l->shards[i].reached, __ATOMIC_RELAXED);
	return n;
}

/* Holds the run until every connection has been answered once (or the
 * gate's time is up, or a stop), then starts its clock and opens the gate
 * (el_load_run's comment). */
static void open_gate(struct el_load *l, void (*progress)(struct el_load *, double, void *), void *arg)
{
	int64_t t0 = l->start_us, limit = 2 * (int64_t)l->cfg.timeout_ms * 1000;
	if (limit < 10000000)
		limit = 10000000;
	int64_t last = t0;
	for (;;) {
		bool all_done = true;
		for (size_t i = 0; i < l->nshards && all_done; i++)
			all_done = __atomic_load_n(&l->shards[i].done, __ATOMIC_ACQUIRE) != 0;
		int64_t now = el_io_now_us();
		if (reached(l, true) >= l->cfg.conns || now - t0 >= limit || *l->cfg.stop || all_done)
			break;
		if (progress && now - last >= 1000000) {
			progress(l, (double)(now - t0) / 1e6, arg);
			last = now;
		}
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	l->ready = reached(l, false);
	set_clock(l, clock_start(l));
	if (*l->cfg.stop)
		l->end_us = l->start_us;
	l->gate->window_us = l->window_us;
	l->gate->end_us = l->end_us;
	__atomic_store_n(&l->gate->start_us, l->start_us, __ATOMIC_RELEASE);
	uint64_t one = 1;
	if (write(l->gate_fd, &one, sizeof(one)) != sizeof(one))
		*l->cfg.stop = 1; /* cannot happen on a fresh eventfd; end the run rather than hang */
}

/* Event loop i runs on the i-th CPU of those the process may use (in
 * turn when there are more loops than CPUs): the loops neither share a
 * CPU nor move, so a run does not depend on where the scheduler put them. */
static void pin_attr(pthread_attr_t *attr, const int *cpus, int ncpus, size_t i)
{
	if (ncpus <= 0)
		return;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpus[i % (size_t)ncpus], &one);
	pthread_attr_setaffinity_np(attr, sizeof(one), &one);
}

int el_load_run(struct el_load *l, void (*progress)(struct el_load *l, double elapsed_s, void *arg),
		void *arg, char *err, size_t errlen)
{
	const struct el_load_cfg *cfg = &l->cfg;
	/* A gated run connects first and starts its clock when the gate
	 * opens; any other starts everything at the start time. */
	set_clock(l, l->gated ? el_io_now_us() : clock_start(l));
	if (l->gated) {
		/* Until the gate opens, the end is not known. */
		l->window_us = l->end_us = INT64_MAX;
	}
	int rc = 0;
	size_t started = 0;
	long per = cfg->conns / (long)l->nshards, extra = cfg->conns % (long)l->nshards, first = 0;
	int cpus[CPU_SETSIZE];
	int ncpus = cfg->pin ? el_cli_allowed_cpus(cpus, CPU_SETSIZE) : 0;
	if (l->shared) {
		pid_t *pids = calloc(l->nshards, sizeof(*pids));
		if (!pids)
			return -ENOMEM;
		for (size_t i = 0; i < l->nshards; i++) {
			long n = per + ((long)i < extra);
			pid_t pid = fork();
			if (pid < 0) {
				rc = -errno;
				snprintf(err, errlen, "fork (process %zu of %zu): %s", i + 1, l->nshards,
					 strerror(errno));
				break;
			}
			if (pid == 0) {
				free(pids); /* the parent's */
				if (ncpus > 0) {
					cpu_set_t one;
					CPU_ZERO(&one);
					CPU_SET(cpus[i % (size_t)ncpus], &one);
					sched_setaffinity(0, sizeof(one), &one);
				}
				int r = el_load_worker_init(l, i, first, n);
				if (r == 0)
					el_load_worker_run(&l->workers[i]);
				else
					__atomic_store_n(&l->shards[i].done, 1, __ATOMIC_RELEASE);
				_exit(r == 0 ? 0 : 1);
			}
			pids[i] = pid;
			first += n;
			started++;
		}
		l->pids = pids;
		if (rc < 0) {
			for (size_t i = 0; i < started; i++)
				kill(pids[i], SIGTERM);
			for (size_t i = started; i < l->nshards; i++)
				l->shards[i].done = 1;
		}
		if (l->gated)
			open_gate(l, progress, arg);
		wait_workers(l, progress, arg);
		for (size_t i = 0; i < started; i++)
			waitpid(pids[i], NULL, 0);
		l->pids = NULL;
		free(pids);
		return rc;
	}
	for (size_t i = 0; i < l->nshards; i++) {
		long n = per + ((long)i < extra);
		l->workers[i].ep = -1;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		if (cfg->pin)
			pin_attr(&attr, cpus, ncpus, i);
		if (el_load_worker_init(l, i, first, n) < 0 ||
		    (rc = -pthread_create(&l->workers[i].thread, &attr, el_load_worker_run, &l->workers[i])) < 0) {
			pthread_attr_destroy(&attr);
			rc = rc < 0 ? rc : -ENOMEM;
			snprintf(err, errlen, "starting worker %zu: %s", i + 1, strerror(-rc));
			el_load_worker_finish(&l->workers[i]);
			break;
		}
		pthread_attr_destroy(&attr);
		first += n;
		started++;
	}
	if (rc < 0) {
		*l->cfg.stop = 1;
		for (size_t i = started; i < l->nshards; i++)
			l->shards[i].done = 1;
	}
	if (l->gated)
		open_gate(l, progress, arg);
	wait_workers(l, progress, arg);
	for (size_t i = 0; i < started; i++) {
		pthread_join(l->workers[i].thread, NULL);
		el_load_worker_finish(&l->workers[i]);
	}
	return rc;
}

int el_load_step(const struct el_load_cfg *cfg, double rate,
		 void (*progress)(struct el_load *l, double elapsed_s, void *arg), void *arg,
		 struct el_load_result *r, char *err, size_t errlen)
{
	struct el_load_cfg c = *cfg;
	c.rate = rate;
	struct el_load *l = el_load_create(&c, err, errlen);
	if (!l)
		return -1;
	int rc = el_load_run(l, progress, arg, err, errlen);
	if (rc == 0)
		el_load_snapshot(l, r, false);
	el_load_destroy(l);
	return rc < 0 ? -1 : 0;
}

void el_load_end_now(struct el_load *l)
{
	int64_t now = el_io_now_us();
	if (now < l->end_us)
		__atomic_store_n(&l->end_us, now, __ATOMIC_RELAXED);
}

void el_load_snapshot(struct el_load *l, struct el_load_result *r, bool live)
{
	memset(r, 0, sizeof(*r));
	el_hist_init(&r->hist);
	el_hist_init(&r->late);
	el_hist_init(&r->connect);
	el_hist_init(&r->first_reply);
	r->ready = l->gated ? l->ready : -1;
	int64_t last = 0;
	for (size_t i = 0; i < l->nshards; i++) {
		struct el_load_shard *s = &l->shards[i];
		if (!live) {
			el_hist_merge(&r->hist, &s->hist);
		} else {
			for (size_t b = 0; b < EL_HIST_BUCKETS; b++)
				r->hist.counts[b] += peek(&s->hist.counts[b]);
			r->hist.total += peek(&s->hist.total);
		}
		if (!live)
			el_hist_merge(&r->late, &s->late);
		r->late_sends += peek(&s->late_sends);
		r->early_sends += peek(&s->early_sends);
		r->scheduled += peek(&s->scheduled);
		r->sessions += peek(&s->sessions);
		if (!live) {
			el_hist_merge(&r->connect, &s->connect);
			el_hist_merge(&r->first_reply, &s->first_reply);
		}
		r->unsent += peek(&s->unsent);
		r->messages += peek(&s->messages);
		r->replies += peek(&s->replies);
		for (int k = 0; k < EL_LOAD_NERRORS; k++) {
			r->errors[k] += peek(&s->errors[k]);
			r->errors_total += peek(&s->errors[k]);
		}
		r->up += __atomic_load_n(&s->up, __ATOMIC_RELAXED);
		r->reached += __atomic_load_n(&s->reached, __ATOMIC_RELAXED);
		int64_t t = __atomic_load_n(&s->last_reply_us, __ATOMIC_RELAXED);
		if (t > last)
			last = t;
	}
	int64_t now = el_io_now_us();
	int64_t end = l->end_us < now ? l->end_us : now;
	/* Counted runs end with their last reply. */
	if (l->cfg.duration_s <= 0 && !live && last > 0)
		end = last;
	r->window_s = end > l->window_us ? (double)(end - l->window_us) / 1e6 : 0.0;
	r->window_start_unix = l->window_unix;
	r->start_late_s = l->start_late_s;
	if (live)
		return;
	el_load_validate(&l->cfg, r);
	/* Poisson arrivals: do the gaps actually sent fit the exponential
	 * they were drawn from? */
	size_t n = 0;
	for (size_t i = 0; i < l->nshards; i++)
		n += l->shards[i].ngaps;
	double *gaps = l->cfg.poisson && n ? malloc(n * sizeof(*gaps)) : NULL;
	if (gaps) {
		size_t k = 0;
		for (size_t i = 0; i < l->nshards; i++)
			for (uint32_t j = 0; j < l->shards[i].ngaps; j++)
				gaps[k++] = l->shards[i].gaps[j];
		r->fit_n = n;
		/* The generator's clock resolution: the median lateness of
		 * its sends (us), the shortest gap it can tell from 0. */
		r->fit_resolution_us = r->late.total ? fmax(el_hist_percentile(&r->late, 50), 1) : 1;
		r->fit_a2 = el_fit_ad_exponential(gaps, n, l->mean_gap_us, r->fit_resolution_us, &r->fit_p);
		free(gaps);
	}
}
