/* The yardstick for echolab-load: the least a closed-loop echo client can
 * do. One epoll loop, N connections, one message in flight on each, a
 * reply counted at its LF, nothing checked, nothing timed but the run.
 *
 *   bench-minimal-client PORT CONNS SECONDS [SIZE]
 *
 * Prints "msgs_per_s=N messages=N seconds=S". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench-minimal-client PORT CONNS SECONDS [SIZE]\n");
		return 2;
	}
	int port = atoi(argv[1]), conns = atoi(argv[2]);
	double seconds = atof(argv[3]);
	size_t size = argc > 4 ? (size_t)atol(argv[4]) : 64;
	if (port <= 0 || conns <= 0 || seconds <= 0 || size == 0 || size > 65536) {
		fprintf(stderr, "bench-minimal-client: bad arguments\n");
		return 2;
	}
	char *msg = malloc(size + 1);
	if (!msg)
		return 1;
	for (size_t i = 0; i < size; i++)
		msg[i] = (char)('a' + i % 26);
	msg[size] = '\n';
	int ep = epoll_create1(0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < conns; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			fprintf(stderr, "bench-minimal-client: connect: %s\n", strerror(errno));
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		if (write(fd, msg, size + 1) != (ssize_t)(size + 1))
			return 1;
	}
	unsigned long long messages = 0;
	double start = now_s(), end = start + seconds;
	struct epoll_event evs[256];
	char buf[65536];
	while (now_s() < end) {
		int n = epoll_wait(ep, evs, 256, 100);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r <= 0) {
				fprintf(stderr, "bench-minimal-client: the server closed a connection\n");
				return 1;
			}
			for (ssize_t k = 0; k < r; k++) {
				if (buf[k] != '\n')
					continue;
				messages++;
				if (write(fd, msg, size + 1) != (ssize_t)(size + 1))
					return 1;
			}
		}
	}
	double took = now_s() - start;
	printf("msgs_per_s=%.1f messages=%llu seconds=%.3f\n", (double)messages / took, messages, took);
	free(msg);
	return 0;
}
