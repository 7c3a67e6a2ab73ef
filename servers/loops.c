/* Connections per event loop, for the models that run several (epoll,
 * uring): how many each loop holds now, the most it held at once and all
 * it ever took. A placement skew (one loop with 80 of 100 connections)
 * halves what a run measures while every figure looks plausible; this
 * makes it visible. Reported at the end (stderr and the log) and at
 * SIGUSR1 (stderr). And where the loops run: each pinned to a CPU the
 * server may use, each dealt the connections whose packets that CPU
 * takes. */
#include "server.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

/* The server whose loops SIGUSR1 reports: a signal handler has no other
 * way to reach it. Set once, before any loop runs. */
static struct el_srv *_Atomic reported;

/* Appends v in decimal to buf at *n (async-signal-safe). */
static void put_long(char *buf, size_t len, size_t *n, long v)
{
	char d[24];
	int k = 0;
	if (v < 0)
		v = 0;
	do
		d[k++] = (char)('0' + v % 10);
	while ((v /= 10) > 0 && k < (int)sizeof(d));
	while (k > 0 && *n + 1 < len)
		buf[(*n)++] = d[--k];
}

static void put_str(char *buf, size_t len, size_t *n, const char *s)
{
	while (*s && *n + 1 < len)
		buf[(*n)++] = *s++;
}

/* "connections per loop (now/most/all): 0: 0/51/51, 1: 0/49/49"; no
 * stdio, so that the signal handler may call it. Returns the length. */
static size_t loops_line(const struct el_srv *srv, char *buf, size_t len)
{
	size_t n = 0;
	put_str(buf, len, &n, "connections per loop (now/most/all):");
	for (int i = 0; i < srv->nloops; i++) {
		put_str(buf, len, &n, i ? ", " : " ");
		put_long(buf, len, &n, i);
		put_str(buf, len, &n, ": ");
		put_long(buf, len, &n, srv->loops[i].held);
		put_str(buf, len, &n, "/");
		put_long(buf, len, &n, srv->loops[i].peak);
		put_str(buf, len, &n, "/");
		put_long(buf, len, &n, srv->loops[i].total);
	}
	buf[n] = 0;
	return n;
}

static void on_report_signal(int sig)
{
	(void)sig;
	struct el_srv *srv = reported;
	if (!srv)
		return;
	char line[EL_SRV_MAX_LOOPS * 48];
	size_t n = 0;
	put_str(line, sizeof(line), &n, "echolab-server: ");
	n += loops_line(srv, line + n, sizeof(line) - n - 1);
	line[n++] = '\n';
	ssize_t w = write(2, line, n);
	(void)w;
}

void el_srv_loops_start(struct el_srv *srv, int n)
{
	srv->nloops = n < EL_SRV_MAX_LOOPS ? n : EL_SRV_MAX_LOOPS;
	srv->ncpus = el_cli_allowed_cpus(srv->cpus, EL_SRV_MAX_LOOPS);
	reported = srv;
	struct sigaction sa = {.sa_handler = on_report_signal, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

void el_srv_loop_joined(struct el_srv *srv, int loop)
{
	if (loop < 0 || loop >= srv->nloops)
		return;
	struct el_srv_loop_count *c = &srv->loops[loop];
	long held = ++c->held;
	c->total++;
	/* Only this loop's thread changes its counts: no other writer. */
	if (held > c->peak)
		c->peak = held;
}

void el_srv_loop_left(struct el_srv *srv, int loop)
{
	if (loop >= 0 && loop < srv->nloops)
		srv->loops[loop].held--;
}

void el_srv_loops_report(struct el_srv *srv)
{
	if (srv->nloops < 2 && srv->process == 0)
		return;
	char line[EL_SRV_MAX_LOOPS * 48], who[48] = "";
	loops_line(srv, line, sizeof(line));
	if (srv->process > 0)
		snprintf(who, sizeof(who), "process %d of %d: ", srv->process, srv->cfg.processes);
	fprintf(stderr, "echolab-server: %s%s\n", who, line);
	fflush(stderr);
	el_srv_logf(srv, "%s%s", who, line);
}

void el_srv_loop_pin(const struct el_srv *srv, pthread_t t, int loop)
{
	if (srv->ncpus <= 0 || loop < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(srv->cpus[loop % srv->ncpus], &set);
	pthread_setaffinity_np(t, sizeof(set), &set);
}

unsigned el_srv_loop_for(const struct el_srv *srv, int fd, unsigned n, unsigned *rr)
{
	int cpu = -1;
	socklen_t cl = sizeof(cpu);
	if (getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &cpu, &cl) == 0 && cpu >= 0)
		for (int i = 0; i < srv->ncpus && (unsigned)i < n; i++)
			if (srv->cpus[i] == cpu)
				return (unsigned)i;
	return __atomic_fetch_add(rr, 1, __ATOMIC_RELAXED) % n;
}
