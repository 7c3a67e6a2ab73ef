/* The zoo: a student's echo server, written plainly, with one classic
 * defect chosen by --defect, or a legal variant. echolab-conform must fail
 * each defect on the case that names it and pass each variant
 * (test_zoo.c). Written the way the lab's servers were: blocking sockets,
 * a fork per connection (or one connection at a time), no library of ours
 * but the time formatter a correct server needs anyway.
 *
 *   zoo_server --port N [--defect D | --variant V] [--max-line N]
 *              [--max-conns N] [--idle-timeout S] [--backlog N]
 *
 * Defects: read-as-message, nul-cut, keep-cr, drop-partial, no-line-limit,
 * local-time, seconds-time, server-port, no-lf, crash-on-reset,
 * never-close, no-busy, log-raw. Variants: correct, pieces, slow,
 * iterative. Each logs its replies on standard output, as
 * docs/protocol.md says (log-raw: unescaped). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *defect = "", *variant = "correct";
static long max_line = 8192, max_conns = 0, backlog = 128;
static double idle_timeout = 0;
static unsigned server_port;

static bool is(const char *d)
{
	return strcmp(defect, d) == 0;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* The log: the reply's line in one write(2), MSG escaped (bytes outside
 * 0x20..0x7E as \xhh, a backslash as \\); log-raw writes it as it came,
 * the student who thought the log is the reply. */
static void log_line(const char *head, size_t head_len, const char *msg, size_t len)
{
	char *line = malloc(head_len + 4 * len + 2);
	if (!line)
		return;
	memcpy(line, head, head_len);
	size_t n = head_len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];
		if (is("log-raw") || (c >= 0x20 && c <= 0x7e && c != '\\'))
			line[n++] = (char)c;
		else if (c == '\\')
			n += (size_t)sprintf(line + n, "\\\\");
		else
			n += (size_t)sprintf(line + n, "\\x%02x", c);
	}
	memcpy(line + n, "]\n", 2);
	write_all(1, line, n + 2);
	free(line);
}

static void reply(int fd, const char *addr, unsigned port, const char *msg, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	char when[64];
	if (is("local-time")) {
		/* Seoul's clock labelled as UTC: the lab's machines ran on KST. */
		setenv("TZ", "KST-9", 1);
		tzset();
		localtime_r(&ts.tv_sec, &tm);
	} else {
		gmtime_r(&ts.tv_sec, &tm);
	}
	size_t w = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (is("seconds-time"))
		snprintf(when + w, sizeof(when) - w, "Z");
	else
		snprintf(when + w, sizeof(when) - w, ".%06ldZ", ts.tv_nsec / 1000);
	size_t cap = len + 160;
	char *out = malloc(cap);
	if (!out)
		return;
	int head = snprintf(out, cap, "[%s] [%s] [%u] [", when, addr, is("server-port") ? server_port : port);
	log_line(out, (size_t)head, msg, len);
	memcpy(out + head, msg, len);
	size_t n = (size_t)head + len;
	out[n++] = ']';
	if (!is("no-lf"))
		out[n++] = '\n';
	if (strcmp(variant, "slow") == 0)
		usleep(2000);
	if (strcmp(variant, "pieces") == 0) {
		/* Legal: the reply in three writes, a millisecond apart. */
		size_t a = n / 3, b = 2 * n / 3;
		write_all(fd, out, a);
		usleep(1000);
		write_all(fd, out + a, b - a);
		usleep(1000);
		write_all(fd, out + b, n - b);
	} else {
		write_all(fd, out, n);
	}
	free(out);
}

static void too_long(int fd)
{
	char err[64];
	int e = snprintf(err, sizeof(err), "! line-too-long %ld\n", max_line);
	write_all(fd, err, (size_t)e);
}

/* Serves one connection until EOF, an error or the idle timeout. */
static void serve(int fd, const char *addr, unsigned port)
{
	size_t cap = (size_t)max_line + 2, len = 0;
	char *line = malloc(is("no-line-limit") ? 1 << 20 : cap);
	char buf[4096];
	bool discarding = false;
	if (!line)
		return;
	for (;;) {
		if (idle_timeout > 0) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			if (poll(&p, 1, (int)(idle_timeout * 1000)) == 0)
				break;
		}
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (is("read-as-message")) {
			/* The classic: one read(2) is one message. */
			size_t m = (size_t)n;
			while (m > 0 && (buf[m - 1] == '\n' || buf[m - 1] == '\r'))
				m--;
			reply(fd, addr, port, buf, m);
			continue;
		}
		for (ssize_t i = 0; i < n; i++) {
			char ch = buf[i];
			if (ch == '\n') {
				size_t m = len;
				if (m > 0 && line[m - 1] == '\r' && !is("keep-cr"))
					m--;
				if (discarding) {
					/* the rest of a line already refused */
				} else if (m > (size_t)max_line && !is("no-line-limit")) {
					too_long(fd);
				} else {
					if (is("nul-cut"))
						m = strnlen(line, m);
					reply(fd, addr, port, line, m);
				}
				discarding = false;
				len = 0;
				continue;
			}
			if (discarding)
				continue;
			if (is("no-line-limit")) {
				if (len < (1 << 20))
					line[len++] = ch;
			} else if (len == (size_t)max_line + 1) {
				/* max + 1 bytes and more before the LF: too long
				 * whatever comes, said once, before the line ends. */
				too_long(fd);
				discarding = true;
			} else {
				line[len++] = ch;
			}
		}
	}
	/* The bytes before a FIN without LF: a last message. */
	if (len > (size_t)max_line && !discarding && !is("no-line-limit"))
		too_long(fd);
	else if (len > 0 && !discarding && !is("drop-partial"))
		reply(fd, addr, port, line, is("nul-cut") ? strnlen(line, len) : len);
	free(line);
}

static void peer(int fd, char *addr, size_t len, unsigned *port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	getpeername(fd, (struct sockaddr *)&sa, &sl);
	inet_ntop(AF_INET, &sa.sin_addr, addr, (socklen_t)len);
	*port = ntohs(sa.sin_port);
}

int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--port"))
			server_port = (unsigned)atoi(v);
		else if (!strcmp(k, "--defect"))
			defect = v;
		else if (!strcmp(k, "--variant"))
			variant = v;
		else if (!strcmp(k, "--max-line"))
			max_line = atol(v);
		else if (!strcmp(k, "--max-conns"))
			max_conns = atol(v);
		else if (!strcmp(k, "--idle-timeout"))
			idle_timeout = atof(v);
		else if (!strcmp(k, "--backlog"))
			backlog = atol(v);
		else {
			fprintf(stderr, "zoo_server: unknown %s\n", k);
			return 2;
		}
	}
	bool iterative = strcmp(variant, "iterative") == 0 || is("crash-on-reset") || is("never-close");
	/* A student's server that forgot SIGPIPE dies when it writes to a
	 * client that reset: that is the crash-on-reset defect. */
	if (!is("crash-on-reset"))
		signal(SIGPIPE, SIG_IGN);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, (int)backlog) < 0) {
		perror("zoo_server: bind/listen");
		return 1;
	}
	long live = 0;
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			perror("zoo_server: accept");
			return 1;
		}
		char addr[64];
		unsigned port;
		peer(fd, addr, sizeof(addr), &port);
		if (iterative) {
			serve(fd, addr, port);
			if (!is("never-close"))
				close(fd);
			continue;
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			live--;
		if (max_conns > 0 && live >= max_conns && !is("no-busy")) {
			write_all(fd, "! busy\n", 7);
			close(fd);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(ls);
			serve(fd, addr, port);
			close(fd);
			_exit(0);
		}
		if (pid > 0)
			live++;
		close(fd);
	}
}
