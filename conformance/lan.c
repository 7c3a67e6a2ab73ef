#include "lan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define IP "/usr/sbin/ip"
#define TC "/usr/sbin/tc"
#define IPTABLES "/usr/sbin/iptables"
#define QUEUE_NUM 7

/* Runs a command; returns its status, its stderr in err. */
static int cmd(char *err, size_t errlen, const char *path, ...)
{
	const char *argv[32];
	size_t n = 0;
	va_list ap;
	va_start(ap, path);
	for (const char *a = va_arg(ap, const char *); a && n < 30; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	static char out[4096];
	/* run_program takes its arguments as a list: pass up to 16. */
	while (n < 16)
		argv[n++] = NULL;
	return run_program(path, NULL, out, sizeof(out), err, errlen, argv[0], argv[1], argv[2],
			   argv[3], argv[4], argv[5], argv[6], argv[7], argv[8], argv[9], argv[10],
			   argv[11], argv[12], argv[13], argv[14], argv[15], NULL);
}

/* Runs a command that must succeed. */
#define MUST(...)                                                                          \
	do {                                                                                \
		char e_[1024];                                                              \
		int rc_ = cmd(e_, sizeof(e_), __VA_ARGS__, NULL);                         \
		cr_assert_eq(rc_, 0, "lan: %s: status %d: %s", #__VA_ARGS__, rc_, e_);     \
	} while (0)

static void enter(int fd)
{
	cr_assert_eq(setns(fd, CLONE_NEWNET), 0, "setns: %s", strerror(errno));
}

void lan_enter_client(const struct lan *l)
{
	enter(l->client_ns);
}

void lan_enter_server(const struct lan *l)
{
	enter(l->server_ns);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The NFQUEUE consumer: every packet waits delay_us, then goes on. The
 * delay is the same for all, so a FIFO is in time order. */
struct held {
	uint32_t id;
	int64_t due;
};

static struct {
	struct held *v;
	size_t head, tail, cap;
	int64_t delay_us;
} fifo;

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
		     void *data)
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

/* Starts the consumer in the client's namespace; returns its pid. */
static pid_t start_delayer(const struct lan *l, int delay_ms)
{
	int ready[2];
	cr_assert_eq(pipe(ready), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(ready[1], STDOUT_FILENO);
		close(ready[0]);
		if (setns(l->client_ns, CLONE_NEWNET) < 0)
			_exit(1);
		delay_loop(delay_ms);
		_exit(1);
	}
	close(ready[1]);
	struct pollfd p = {.fd = ready[0], .events = POLLIN};
	char c = 0;
	bool ok = poll(&p, 1, 5000) == 1 && read(ready[0], &c, 1) == 1 && c == 'r';
	close(ready[0]);
	cr_assert(ok, "lan: the NFQUEUE consumer did not start");
	return pid;
}

int lan_create(struct lan *l, int delay_ms, double loss, char *why, size_t whylen)
{
	memset(l, 0, sizeof(*l));
	l->client_ns = l->server_ns = -1;
	if (access(IP, X_OK) != 0) {
		snprintf(why, whylen, "no %s (iproute2) to build the emulated LAN", IP);
		return -ENOTSUP;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(why, whylen, "no network namespace (unshare: %s): the LAN needs root",
			 strerror(errno));
		return -ENOTSUP;
	}
	l->server_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(l->server_ns, 0);
	/* The client's namespace lives as long as this holder. */
	int ready[2];
	cr_assert_eq(pipe(ready), 0);
	l->holder = fork();
	cr_assert_geq(l->holder, 0);
	if (l->holder == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ready[0]);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	char c = 0;
	cr_assert(read(ready[0], &c, 1) == 1 && c == 'r', "lan: the client namespace failed");
	close(ready[0]);
	char path[64], pid[16];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)l->holder);
	snprintf(pid, sizeof(pid), "%d", (int)l->holder);
	l->client_ns = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(l->client_ns, 0);

	MUST(IP, "link", "set", "lo", "up");
	MUST(IP, "link", "add", "elsrv0", "type", "veth", "peer", "name", "elcli0", "netns", pid);
	MUST(IP, "addr", "add", LAN_SERVER_ADDR "/24", "dev", "elsrv0");
	MUST(IP, "link", "set", "elsrv0", "up");
	lan_enter_client(l);
	MUST(IP, "link", "set", "lo", "up");
	MUST(IP, "addr", "add", LAN_CLIENT_ADDR "/24", "dev", "elcli0");
	MUST(IP, "link", "set", "elcli0", "up");

	/* Delay: netem on the client's egress, else the NFQUEUE consumer. */
	if (delay_ms > 0) {
		char d[32], err[1024];
		snprintf(d, sizeof(d), "%dms", delay_ms);
		int rc = access(TC, X_OK) == 0 ? cmd(err, sizeof(err), TC, "qdisc", "add", "dev",
						     "elcli0", "root", "netem", "delay", d, NULL)
					       : -1;
		if (rc == 0) {
			snprintf(l->mechanism, sizeof(l->mechanism), "netem");
		} else if (access(IPTABLES, X_OK) != 0) {
			lan_enter_server(l);
			snprintf(why, whylen, "no netem (%s) and no %s for the NFQUEUE fallback",
				 rc < 0 ? "no tc" : "not in this kernel", IPTABLES);
			return -ENOTSUP;
		} else {
			char q[16];
			snprintf(q, sizeof(q), "%d", QUEUE_NUM);
			MUST(IPTABLES, "-t", "mangle", "-A", "POSTROUTING", "-o", "elcli0", "-j",
			     "NFQUEUE", "--queue-num", q, "--queue-bypass");
			l->delayer = start_delayer(l, delay_ms);
			snprintf(l->mechanism, sizeof(l->mechanism), "nfqueue");
		}
	}
	/* Loss: always on the server's ingress, even where netem exists. A
	 * capture taps a packet after the egress qdisc, so a packet netem
	 * drops is never captured on the sender's side, and its resending
	 * would look like a first sending there. */
	if (loss > 0) {
		if (access(IPTABLES, X_OK) != 0) {
			lan_enter_server(l);
			snprintf(why, whylen, "no %s for loss on the server's ingress", IPTABLES);
			return -ENOTSUP;
		}
		char prob[32];
		snprintf(prob, sizeof(prob), "%.6f", loss);
		lan_enter_server(l);
		MUST(IPTABLES, "-t", "raw", "-A", "PREROUTING", "-i", "elsrv0", "-m", "statistic",
		     "--mode", "random", "--probability", prob, "-j", "DROP");
		size_t n = strlen(l->mechanism);
		snprintf(l->mechanism + n, sizeof(l->mechanism) - n, "%siptables", n ? "+" : "");
	}
	lan_enter_server(l);
	return 0;
}

void lan_destroy(struct lan *l)
{
	pid_t pids[2] = {l->delayer, l->holder};
	for (int i = 0; i < 2; i++) {
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
	}
	if (l->client_ns >= 0)
		close(l->client_ns);
	if (l->server_ns >= 0)
		close(l->server_ns);
	memset(l, 0, sizeof(*l));
	l->client_ns = l->server_ns = -1;
}
