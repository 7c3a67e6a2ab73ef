/* A fork-per-connection echo server of the echolab protocol, written the
 * way the lab's students wrote theirs: blocking sockets, one child process
 * per client, nothing but libc. It is the example of docs/conform.md ("grade
 * your own server"): echolab-conform grades it, and echolab-bench measures
 * it beside echolab's own models.
 *
 *   cc -O2 -o fork_echo_server examples/class/fork/server.c
 *   ./fork_echo_server PORT [MAX_LINE]
 *
 * For each message (bytes up to LF, a CR right before the LF dropped) it
 * sends back "[TIME] [ADDR] [PORT] [MSG]\n", TIME in UTC with
 * microseconds, and logs the same line on standard output, MSG escaped;
 * a message longer than MAX_LINE (default 8192) gets
 * "! line-too-long MAX_LINE\n" and the rest of its line is skipped. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long max_line = 8192;

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The log: the reply line on standard output, in one write(2) so that
 * lines of concurrent clients never mix, its MSG escaped (bytes outside
 * 0x20..0x7E as \xhh, a backslash as \\) so that a message cannot
 * forge or garble log lines. */
static void log_line(const char *head, size_t head_len, const char *msg, size_t len)
{
	char *line = malloc(head_len + 4 * len + 2);
	if (!line)
		return;
	memcpy(line, head, head_len);
	size_t n = head_len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];
		if (c == '\\') {
			line[n++] = '\\';
			line[n++] = '\\';
		} else if (c >= 0x20 && c <= 0x7e) {
			line[n++] = (char)c;
		} else {
			n += (size_t)sprintf(line + n, "\\x%02x", c);
		}
	}
	memcpy(line + n, "]\n", 2);
	send_all(1, line, n + 2);
	free(line);
}

static int reply(int fd, const char *addr, unsigned port, const char *msg, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char when[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	char *out = malloc(len + 128);
	if (!out)
		return -1;
	int head = sprintf(out, "[%s.%06ldZ] [%s] [%u] [", when, ts.tv_nsec / 1000, addr, port);
	memcpy(out + head, msg, len);
	memcpy(out + head + len, "]\n", 2);
	size_t n = (size_t)head + len + 2;
	log_line(out, (size_t)head, msg, len);
	int rc = send_all(fd, out, n);
	free(out);
	return rc;
}

static int too_long(int fd)
{
	return dprintf(fd, "! line-too-long %ld\n", max_line) < 0 ? -1 : 0;
}

static void serve(int fd, const char *addr, unsigned port)
{
	char *line = malloc((size_t)max_line + 2), buf[4096];
	size_t len = 0;
	int skipping = 0;
	ssize_t n;
	if (!line)
		return;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* a reset: this client is gone, the others are not */
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				size_t m = len > 0 && line[len - 1] == '\r' ? len - 1 : len;
				if (!skipping && (m > (size_t)max_line ? too_long(fd) : reply(fd, addr, port, line, m)) < 0)
					goto out;
				skipping = 0;
				len = 0;
			} else if (skipping) {
				continue;
			} else if (len == (size_t)max_line + 1) {
				/* Too long whatever comes: say so now, skip to the LF. */
				if (too_long(fd) < 0)
					goto out;
				skipping = 1;
			} else {
				line[len++] = buf[i];
			}
		}
	}
	/* Bytes without an LF before the client's FIN are a last message. */
	if (len > (size_t)max_line && !skipping)
		too_long(fd);
	else if (len > 0 && !skipping)
		reply(fd, addr, port, line, len);
out:
	free(line);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PORT [MAX_LINE]\n", argv[0]);
		return 2;
	}
	if (argc > 2)
		max_line = atol(argv[2]);
	signal(SIGPIPE, SIG_IGN); /* a client that resets must not kill us */
	signal(SIGCHLD, SIG_IGN); /* children reaped by the kernel: no zombies */
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 128) < 0) {
		perror("bind/listen");
		return 1;
	}
	for (;;) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		int fd = accept(ls, (struct sockaddr *)&peer, &plen);
		if (fd < 0)
			continue;
		char addr[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof(addr));
		if (fork() == 0) {
			close(ls);
			serve(fd, addr, ntohs(peer.sin_port));
			close(fd);
			_exit(0);
		}
		close(fd);
	}
}
