/* A test server for the --until-ci test: echoes bytes on one connection at
 * a time, and holds a share of its replies for a random time first, so
 * that its p99 is noisy where an echolab model's is steady. With a share
 * of 0 it is the same server without the noise.
 *
 *   jitter_echo PERCENT MAX_US SEED [PERIOD_MS]
 *
 * With PERIOD_MS, the noise comes and goes: periods of that length are
 * noisy and quiet in turn, so one second's p99 differs from another's, as
 * a server's does when a background job runs every other while.
 *
 * Binds 127.0.0.1 port 0, prints the port on a line of its own, and serves
 * until killed. Exits 2 on bad arguments, 1 when it cannot listen. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* splitmix64: the hold of each reply, reproducible from the seed. */
static uint64_t next_random(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void hold_us(long us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Echoes everything c sends until it closes; a read's reply is held
 * first with probability percent/100, for 0 to max_us microseconds. */
static void serve(int c, double percent, long max_us, long period_ms, uint64_t *rng)
{
	char buf[4096];
	bool noisy = true;
	long period = -1;
	for (;;) {
		ssize_t n = read(c, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		if (period_ms > 0) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long p = (long)(now.tv_sec * 1000 + now.tv_nsec / 1000000) / period_ms;
			if (p != period) {
				period = p;
				noisy = p % 2 == 0;
			}
		}
		if (noisy && (double)(next_random(rng) % 1000000) < percent * 10000)
			hold_us((long)(next_random(rng) % (uint64_t)(max_us + 1)));
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(c, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return;
			off += w;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: jitter_echo PERCENT MAX_US SEED [PERIOD_MS]\n");
		return 2;
	}
	double percent = atof(argv[1]);
	long max_us = atol(argv[2]);
	uint64_t rng = strtoull(argv[3], NULL, 10);
	long period_ms = argc == 5 ? atol(argv[4]) : 0;
	if (percent < 0 || percent > 100 || max_us < 0 || period_ms < 0) {
		fprintf(stderr, "jitter_echo: bad PERCENT or MAX_US\n");
		return 2;
	}
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 16) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &len) < 0) {
		perror("jitter_echo: listen");
		return 1;
	}
	printf("%u\n", ntohs(a.sin_port));
	fflush(stdout);
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		int one = 1;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		serve(c, percent, max_us, period_ms, &rng);
		close(c);
	}
}
