/* A planted leak for the soak's own test: preloaded into echolab-server
 * (and nothing else: it checks its program's name), every read(2) of a
 * socket keeps 256 bytes it never frees, so the server's RSS grows with
 * the messages it serves. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static ssize_t (*real_read)(int, void *, size_t);
static int leaking;
static void *volatile last;

__attribute__((constructor)) static void init(void)
{
	real_read = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
	char exe[256];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	const char *base = strrchr(exe, '/');
	leaking = base && strcmp(base + 1, "echolab-server") == 0;
}

ssize_t read(int fd, void *buf, size_t len)
{
	ssize_t n = real_read(fd, buf, len);
	struct stat st;
	if (leaking && n > 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
		char *p = malloc(256);
		if (p)
			memset(p, 1, 256);
		last = p; /* lost at the next read */
	}
	return n;
}
