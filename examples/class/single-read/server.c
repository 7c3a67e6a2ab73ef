/* A student's iterative echo server, the lab's first one, with the
 * classic bug: it takes each read(2) for one whole message. It passes a
 * quick manual test (one short line at a time), and echolab-conform
 * grades it with failures: a message that arrives in pieces is answered
 * piece by piece, and two messages that arrive together as one.
 *
 *   cc -O2 -o server server.c && ./server PORT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 16) < 0) {
		perror("bind/listen");
		return 1;
	}
	for (;;) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		int fd = accept(ls, (struct sockaddr *)&peer, &plen);
		if (fd < 0)
			continue;
		char buf[8192], out[8400];
		ssize_t n;
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			/* The bug: one read, one message. */
			if (buf[n - 1] == '\n')
				n--;
			if (n > 0 && buf[n - 1] == '\r')
				n--;
			struct timespec now;
			struct tm tm;
			char when[32];
			clock_gettime(CLOCK_REALTIME, &now);
			gmtime_r(&now.tv_sec, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
			int len = snprintf(out, sizeof(out), "[%s.%06ldZ] [%s] [%u] [%.*s]\n", when, now.tv_nsec / 1000,
					   inet_ntoa(peer.sin_addr), ntohs(peer.sin_port), (int)n, buf);
			fputs(out, stdout);
			fflush(stdout);
			if (write(fd, out, (size_t)len) < 0)
				break;
		}
		close(fd);
	}
}
