/* An LD_PRELOAD library for tests only: makes the server's socket calls
 * fail the ways the kernel may make them fail, at random.
 *
 *   ECHOLAB_FAULTS=seed=N,rate=P[,report=FILE]
 *
 * With probability P per call (0 < P <= 0.5): read/recv/write/send/writev
 * on a socket return a short count, or -1 with EINTR, or -1 with EAGAIN
 * when the socket is non-blocking (a blocking socket never says EAGAIN);
 * accept/accept4 fail with EMFILE, ENFILE or ECONNABORTED before taking a
 * connection (so the connection waits in the queue, as the kernel leaves
 * it); fork fails with EAGAIN and pthread_create returns EAGAIN. Files and
 * pipes are left alone: the log's one-write-per-line is a property of
 * files, not a fault to inject.
 *
 * The faults are transient, as the kernel's are: no thread sees more than
 * two in a row from one call, so a server that retries as documented
 * always gets through. Counts of what was injected, summed over the
 * server and every process it forks, go to the report file at exit. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

enum kind { SHORT_READ, EINTR_READ, EAGAIN_READ, SHORT_WRITE, EINTR_WRITE, EAGAIN_WRITE,
	    ACCEPT_EMFILE, ACCEPT_ENFILE, ACCEPT_ECONNABORTED, FORK_EAGAIN, THREAD_EAGAIN,
	    /* Not a fault: accept(2) calls the shim saw, fault or not. They
	     * show that the model's socket calls go through it even in a run
	     * where no fault happened to be drawn for them. */
	    ACCEPT_SEEN, KINDS };

static const char *const kind_name[KINDS] = {
	"short_read", "eintr_read", "eagain_read", "short_write", "eintr_write", "eagain_write",
	"accept_emfile", "accept_enfile", "accept_econnaborted", "fork_eagain", "pthread_create_eagain",
	"accept_seen",
};

/* What the calls are. */
enum call { C_READ, C_WRITE, C_ACCEPT, C_FORK, C_THREAD, CALLS };

static struct {
	bool on;
	uint32_t threshold; /* a fault when the next 32 random bits are below */
	uint64_t seed;
	char report[256];
	pid_t owner; /* the process that writes the report */
	_Atomic uint64_t *counts; /* shared with forked children */
} cfg;

static _Thread_local uint64_t rng;
static _Thread_local unsigned in_a_row[CALLS];

static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_recv)(int, void *, size_t, int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_accept)(int, struct sockaddr *, socklen_t *);
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
static pid_t (*real_fork)(void);
static int (*real_pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

static void report(void)
{
	if (!cfg.on || getpid() != cfg.owner || !cfg.report[0])
		return;
	int fd = open(cfg.report, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	/* Which model this server ran: the argument after --model. */
	char args[4096] = "", model[64] = "?";
	int cfd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t alen = cfd >= 0 && real_read ? real_read(cfd, args, sizeof(args) - 1) : -1;
	if (cfd >= 0)
		close(cfd);
	for (ssize_t i = 0; alen > 0 && i < alen; i += (ssize_t)strlen(args + i) + 1)
		if (strcmp(args + i, "--model") == 0 && i + 8 < alen)
			snprintf(model, sizeof(model), "%s", args + i + 8);
	char line[1024];
	int n = snprintf(line, sizeof(line), "model=%s seed=%llu", model, (unsigned long long)cfg.seed);
	for (int k = 0; k < KINDS; k++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%llu", kind_name[k],
			      (unsigned long long)atomic_load(&cfg.counts[k]));
	line[n++] = '\n';
	if (real_write)
		real_write(fd, line, (size_t)n);
	close(fd);
}

__attribute__((constructor)) static void init(void)
{
	real_read = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
	real_recv = (ssize_t (*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
	real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	real_send = (ssize_t (*)(int, const void *, size_t, int))dlsym(RTLD_NEXT, "send");
	real_writev = (ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
	real_accept = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
	real_accept4 = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
	real_fork = (pid_t (*)(void))dlsym(RTLD_NEXT, "fork");
	real_pthread_create = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(
		RTLD_NEXT, "pthread_create");
	const char *spec = getenv("ECHOLAB_FAULTS");
	if (!spec)
		return;
	double rate = 0;
	unsigned long long seed = 1;
	for (const char *p = spec; p && *p; p = strchr(p, ','), p = p ? p + 1 : NULL) {
		if (strncmp(p, "seed=", 5) == 0)
			seed = strtoull(p + 5, NULL, 10);
		else if (strncmp(p, "rate=", 5) == 0)
			rate = strtod(p + 5, NULL);
		else if (strncmp(p, "report=", 7) == 0)
			snprintf(cfg.report, sizeof(cfg.report), "%.*s", (int)strcspn(p + 7, ","), p + 7);
	}
	if (!(rate > 0 && rate <= 0.5))
		return;
	void *shared = mmap(NULL, KINDS * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			    -1, 0);
	if (shared == MAP_FAILED)
		return;
	cfg.counts = shared;
	cfg.threshold = (uint32_t)(rate * 4294967296.0);
	cfg.seed = seed;
	cfg.owner = getpid();
	cfg.on = true;
	atexit(report);
}

/* splitmix64, seeded per thread from the seed and the thread id. */
static uint64_t next_random(void)
{
	if (rng == 0)
		rng = cfg.seed * 0x9e3779b97f4a7c15ULL ^ (uint64_t)syscall(SYS_gettid) << 17 ^ 0x5851f42d4c957f2dULL;
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Whether this call fails: at the rate, never a third time in a row. */
static bool fault(enum call c)
{
	if (!cfg.on)
		return false;
	if (in_a_row[c] < 2 && (uint32_t)next_random() < cfg.threshold) {
		in_a_row[c]++;
		return true;
	}
	in_a_row[c] = 0;
	return false;
}

static void count(enum kind k)
{
	atomic_fetch_add(&cfg.counts[k], 1);
}

static bool is_socket(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static bool nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_NONBLOCK);
}

/* The fault for a read or write of len bytes on fd: a shorter length to
 * use (*len changed, returns 0), or -1 with errno set, or 1 for none. */
static int io_fault(int fd, size_t *len, bool reading)
{
	if (!fault(reading ? C_READ : C_WRITE))
		return 1;
	if (!is_socket(fd)) {
		in_a_row[reading ? C_READ : C_WRITE] = 0;
		return 1;
	}
	unsigned pick = (unsigned)(next_random() % 3);
	if (pick == 0 && *len > 1) {
		*len = 1 + (size_t)(next_random() % (*len - 1));
		count(reading ? SHORT_READ : SHORT_WRITE);
		return 0;
	}
	if (pick == 2 && nonblocking(fd)) {
		count(reading ? EAGAIN_READ : EAGAIN_WRITE);
		errno = EAGAIN;
		return -1;
	}
	count(reading ? EINTR_READ : EINTR_WRITE);
	errno = EINTR;
	return -1;
}

ssize_t read(int fd, void *buf, size_t len)
{
	int f = io_fault(fd, &len, true);
	return f < 0 ? -1 : real_read(fd, buf, len);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	int f = io_fault(fd, &len, true);
	return f < 0 ? -1 : real_recv(fd, buf, len, flags);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	int f = io_fault(fd, &len, false);
	return f < 0 ? -1 : real_write(fd, buf, len);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	int f = io_fault(fd, &len, false);
	return f < 0 ? -1 : real_send(fd, buf, len, flags);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	size_t len = total;
	int f = io_fault(fd, &len, false);
	if (f < 0)
		return -1;
	if (len == total)
		return real_writev(fd, iov, n);
	/* A short writev: the first len bytes only. */
	struct iovec cut[64];
	int k = 0;
	for (size_t left = len; k < n && k < 64 && left > 0; k++) {
		cut[k] = iov[k];
		if (cut[k].iov_len > left)
			cut[k].iov_len = left;
		left -= cut[k].iov_len;
	}
	return real_writev(fd, cut, k);
}

static int accept_fault(void)
{
	if (cfg.on)
		count(ACCEPT_SEEN);
	if (!fault(C_ACCEPT))
		return 0;
	static const int errs[3] = {EMFILE, ENFILE, ECONNABORTED};
	int i = (int)(next_random() % 3);
	count((enum kind)(ACCEPT_EMFILE + i));
	errno = errs[i];
	return -1;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept_fault() < 0 ? -1 : real_accept(fd, addr, len);
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return accept_fault() < 0 ? -1 : real_accept4(fd, addr, len, flags);
}

pid_t fork(void)
{
	if (fault(C_FORK)) {
		count(FORK_EAGAIN);
		errno = EAGAIN;
		return -1;
	}
	return real_fork();
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	if (fault(C_THREAD)) {
		count(THREAD_EAGAIN);
		return EAGAIN;
	}
	return real_pthread_create(t, attr, fn, arg);
}
