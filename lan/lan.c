#include "lan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IP "/usr/sbin/ip"
#define TC "/usr/sbin/tc"
#define IPTABLES "/usr/sbin/iptables"
#define QUEUE_NUM 7

extern char **environ;

/* Runs path with the NULL-terminated arguments after it, its output
 * dropped. Returns 0 when it exited 0; else -EIO with the command and its
 * first line of error in why. */
static int cmd(char *why, size_t whylen, const char *path, ...)
{
	const char *argv[24] = {path};
	size_t n = 1;
	va_list ap;
	va_start(ap, path);
	for (const char *a = va_arg(ap, const char *); a && n < 23; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	int errp[2];
	if (pipe2(errp, O_CLOEXEC) < 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -errno;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, errp[1], STDERR_FILENO);
	pid_t pid;
	int rc = posix_spawn(&pid, path, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(errp[1]);
	if (rc != 0) {
		close(errp[0]);
		snprintf(why, whylen, "%s: %s", path, strerror(rc));
		return -rc;
	}
	char err[512];
	size_t got = 0;
	ssize_t r;
	while ((r = read(errp[0], err + got, sizeof(err) - 1 - got)) > 0 || (r < 0 && errno == EINTR))
		got += r > 0 ? (size_t)r : 0;
	close(errp[0]);
	err[got] = 0;
	err[strcspn(err, "\n")] = 0;
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	int len = snprintf(why, whylen, "lan:");
	for (size_t i = 0; argv[i] && len >= 0 && (size_t)len < whylen; i++)
		len += snprintf(why + len, whylen - (size_t)len, " %s", argv[i]);
	if (len >= 0 && (size_t)len < whylen)
		snprintf(why + len, whylen - (size_t)len, ": %s", err[0] ? err : "failed");
	return -EIO;
}

/* Runs a command; on failure leaves create with its error. */
#define RUN(...)                                                     \
	do {                                                          \
		if ((rc = cmd(why, whylen, __VA_ARGS__, NULL)) < 0) \
			goto fail;                                    \
	} while (0)

static int enter(int fd)
{
	return setns(fd, CLONE_NEWNET) == 0 ? 0 : -errno;
}

int el_lan_enter_client(const struct el_lan *l)
{
	return enter(l->client_ns);
}

int el_lan_enter_server(const struct el_lan *l)
{
	return enter(l->server_ns);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The NFQUEUE consumer: every packet waits delay_us, then goes on. The
 * delay is the same for all, so a FIFO is in time order. It runs in a
 * process of its own, so these are that process's. */
struct held {
	uint32_t id;
	int64_t due;
};

static struct {
	struct held *v;
	size_t head, tail, cap;
	int64_t delay_us;
} fifo;

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data)
{
	(void)msg;
	(void)data;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	if (!ph)
		return 0;
	uint32_t id = ntohl(ph->packet_id);
	if (fifo.tail - fifo.head == fifo.cap) /* full: let it through now */
		return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
	fifo.v[fifo.tail++ % fifo.cap] = (struct held){id, now_us() + fifo.delay_us};
	return 0;
}

static void delay_loop(int delay_ms)
{
	fifo.cap = 1 << 16;
	fifo.v = calloc(fifo.cap, sizeof(*fifo.v));
	fifo.delay_us = (int64_t)delay_ms * 1000;
	struct nfq_handle *h = nfq_open();
	if (!fifo.v || !h)
		_exit(1);
	struct nfq_q_handle *qh = nfq_create_queue(h, QUEUE_NUM, on_packet, NULL);
	if (!qh || nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0)
		_exit(1);
	nfq_set_queue_maxlen(qh, 1 << 16);
	int fd = nfq_fd(h);
	char buf[65536];
	/* Ready: the parent waits for this byte before sending anything. */
	if (write(STDOUT_FILENO, "r", 1) != 1)
		_exit(1);
	for (;;) {
		int timeout = -1;
		if (fifo.head != fifo.tail) {
			int64_t wait = fifo.v[fifo.head % fifo.cap].due - now_us();
			timeout = wait > 0 ? (int)((wait + 999) / 1000) : 0;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, timeout) > 0) {
			ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n > 0)
				nfq_handle_packet(h, buf, (int)n);
		}
		int64_t t = now_us();
		while (fifo.head != fifo.tail && fifo.v[fifo.head % fifo.cap].due <= t)
			nfq_set_verdict(qh, fifo.v[fifo.head++ % fifo.cap].id, NF_ACCEPT, 0, NULL);
	}
}

/* Waits up to 5 s for the ready byte a child writes on fd. */
static bool ready(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c = 0;
	return poll(&p, 1, 5000) == 1 && read(fd, &c, 1) == 1 && c == 'r';
}

/* Starts the consumer in the client's namespace. Returns its pid or
 * -errno. */
static pid_t start_delayer(const struct el_lan *l, int delay_ms)
{
	int rp[2];
	if (pipe2(rp, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(rp[0]);
		close(rp[1]);
		return -e;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(rp[1], STDOUT_FILENO);
		if (setns(l->client_ns, CLONE_NEWNET) < 0)
			_exit(1);
		delay_loop(delay_ms);
		_exit(1);
	}
	close(rp[1]);
	bool ok = ready(rp[0]);
	close(rp[0]);
	if (!ok) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -EIO;
	}
	return pid;
}

/* The client's namespace: a child unshares one and holds it. Returns 0
 * or -errno. */
static int start_holder(struct el_lan *l)
{
	int rp[2];
	if (pipe2(rp, O_CLOEXEC) < 0)
		return -errno;
	l->holder = fork();
	if (l->holder < 0) {
		int e = errno;
		l->holder = 0;
		close(rp[0]);
		close(rp[1]);
		return -e;
	}
	if (l->holder == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWNET) < 0 || write(rp[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(rp[1]);
	bool ok = ready(rp[0]);
	close(rp[0]);
	if (!ok)
		return -EIO;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)l->holder);
	l->client_ns = open(path, O_RDONLY | O_CLOEXEC);
	return l->client_ns >= 0 ? 0 : -errno;
}

/* Delay on the client's egress: netem, else the NFQUEUE consumer. */
static int add_delay(struct el_lan *l, int delay_ms, char *why, size_t whylen)
{
	char d[32], err[512];
	snprintf(d, sizeof(d), "%dms", delay_ms);
	int rc = access(TC, X_OK) == 0 ? cmd(err, sizeof(err), TC, "qdisc", "add", "dev", EL_LAN_CLIENT_IFACE,
					     "root", "netem", "delay", d, NULL)
				       : -ENOENT;
	if (rc == 0) {
		snprintf(l->mechanism, sizeof(l->mechanism), "netem");
		return 0;
	}
	if (access(IPTABLES, X_OK) != 0) {
		snprintf(why, whylen, "no netem (%s) and no %s for the NFQUEUE fallback",
			 rc == -ENOENT ? "no tc" : "not in this kernel", IPTABLES);
		return -ENOTSUP;
	}
	char q[16];
	snprintf(q, sizeof(q), "%d", QUEUE_NUM);
	if ((rc = cmd(why, whylen, IPTABLES, "-t", "mangle", "-A", "POSTROUTING", "-o", EL_LAN_CLIENT_IFACE,
		      "-j", "NFQUEUE", "--queue-num", q, "--queue-bypass", NULL)) < 0)
		return rc;
	l->delayer = start_delayer(l, delay_ms);
	if (l->delayer < 0) {
		rc = (int)l->delayer;
		l->delayer = 0;
		snprintf(why, whylen, "lan: the NFQUEUE consumer did not start (%s)", strerror(-rc));
		return rc;
	}
	snprintf(l->mechanism, sizeof(l->mechanism), "nfqueue");
	return 0;
}

int el_lan_create(struct el_lan *l, int delay_ms, double loss, char *why, size_t whylen)
{
	memset(l, 0, sizeof(*l));
	l->client_ns = l->server_ns = l->origin_ns = -1;
	if (access(IP, X_OK) != 0) {
		snprintf(why, whylen, "no %s (iproute2) to build the emulated LAN", IP);
		return -ENOTSUP;
	}
	if ((loss > 0 || delay_ms > 0) && access(IPTABLES, X_OK) != 0 && access(TC, X_OK) != 0) {
		snprintf(why, whylen, "no %s or %s for delay and loss", TC, IPTABLES);
		return -ENOTSUP;
	}
	l->origin_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (l->origin_ns < 0) {
		snprintf(why, whylen, "/proc/self/ns/net: %s", strerror(errno));
		return -errno;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		int e = errno;
		snprintf(why, whylen, "no network namespace (unshare: %s): the LAN needs root", strerror(e));
		close(l->origin_ns);
		l->origin_ns = -1;
		return e == EPERM || e == EINVAL || e == ENOSYS ? -ENOTSUP : -e;
	}
	int rc = 0;
	l->server_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (l->server_ns < 0 || (rc = start_holder(l)) < 0) {
		rc = l->server_ns < 0 ? -errno : rc;
		snprintf(why, whylen, "lan: the client's namespace: %s", strerror(-rc));
		goto fail;
	}
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)l->holder);
	RUN(IP, "link", "set", "lo", "up");
	RUN(IP, "link", "add", EL_LAN_SERVER_IFACE, "type", "veth", "peer", "name", EL_LAN_CLIENT_IFACE, "netns",
	    pid);
	RUN(IP, "addr", "add", EL_LAN_SERVER_ADDR "/24", "dev", EL_LAN_SERVER_IFACE);
	RUN(IP, "link", "set", EL_LAN_SERVER_IFACE, "up");
	if ((rc = el_lan_enter_client(l)) < 0) {
		snprintf(why, whylen, "lan: setns: %s", strerror(-rc));
		goto fail;
	}
	RUN(IP, "link", "set", "lo", "up");
	RUN(IP, "addr", "add", EL_LAN_CLIENT_ADDR "/24", "dev", EL_LAN_CLIENT_IFACE);
	RUN(IP, "link", "set", EL_LAN_CLIENT_IFACE, "up");
	if (delay_ms > 0 && (rc = add_delay(l, delay_ms, why, whylen)) < 0)
		goto fail;
	if ((rc = el_lan_enter_server(l)) < 0) {
		snprintf(why, whylen, "lan: setns: %s", strerror(-rc));
		goto fail;
	}
	/* Loss: always on the server's ingress, even where netem exists. A
	 * capture taps a packet after the egress qdisc, so a packet netem
	 * drops is never captured on the sender's side, and its resending
	 * would look like a first sending there. */
	if (loss > 0) {
		if (access(IPTABLES, X_OK) != 0) {
			snprintf(why, whylen, "no %s for loss on the server's ingress", IPTABLES);
			rc = -ENOTSUP;
			goto fail;
		}
		char prob[32];
		snprintf(prob, sizeof(prob), "%.6f", loss);
		RUN(IPTABLES, "-t", "raw", "-A", "PREROUTING", "-i", EL_LAN_SERVER_IFACE, "-m", "statistic",
		    "--mode", "random", "--probability", prob, "-j", "DROP");
		size_t n = strlen(l->mechanism);
		snprintf(l->mechanism + n, sizeof(l->mechanism) - n, "%siptables", n ? "+" : "");
	}
	return 0;
fail:
	el_lan_destroy(l);
	return rc;
}

void el_lan_destroy(struct el_lan *l)
{
	pid_t pids[2] = {l->delayer, l->holder};
	for (int i = 0; i < 2; i++) {
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
	}
	if (l->origin_ns >= 0) {
		enter(l->origin_ns);
		close(l->origin_ns);
	}
	if (l->client_ns >= 0)
		close(l->client_ns);
	if (l->server_ns >= 0)
		close(l->server_ns);
	memset(l, 0, sizeof(*l));
	l->client_ns = l->server_ns = l->origin_ns = -1;
}
