/* Injected io_uring faults: see uring_faults.h. */
#include <fcntl.h>
#include <stdatomic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uring_faults.h"

enum kind { SHORT_READ, EINTR_READ, EAGAIN_READ, ENOBUFS_READ, SHORT_WRITE, EINTR_WRITE, EAGAIN_WRITE,
	    ACCEPT_EMFILE, ACCEPT_ENFILE, ACCEPT_ENOBUFS, KINDS };

/* The shim's names where the fault is the same. */
static const char *const kind_name[KINDS] = {
	"short_read", "eintr_read", "eagain_read", "enobufs_read", "short_write", "eintr_write", "eagain_write",
	"accept_emfile", "accept_enfile", "accept_enobufs",
};

static struct {
	bool on;
	uint32_t threshold; /* a fault when the next 32 random bits are below */
	uint64_t seed;
	char report[256];
	_Atomic uint64_t counts[KINDS];
} uf;

/* Faults in a row, per ring thread and kind of call. */
static _Thread_local unsigned in_a_row[3];

static void report(void)
{
	int fd = open(uf.report, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	char line[1024];
	int n = snprintf(line, sizeof(line), "model=uring seed=%llu source=uring_faults", (unsigned long long)uf.seed);
	for (int k = 0; k < KINDS; k++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%llu", kind_name[k],
			      (unsigned long long)atomic_load(&uf.counts[k]));
	line[n++] = '\n';
	ssize_t w = write(fd, line, (size_t)n);
	(void)w;
	close(fd);
}

bool el_uf_init(void)
{
	const char *spec = getenv("ECHOLAB_FAULTS");
	if (!spec)
		return false;
	double rate = 0;
	uf.seed = 1;
	for (const char *p = spec; p && *p; p = strchr(p, ','), p = p ? p + 1 : NULL) {
		if (strncmp(p, "seed=", 5) == 0)
			uf.seed = strtoull(p + 5, NULL, 10);
		else if (strncmp(p, "rate=", 5) == 0)
			rate = strtod(p + 5, NULL);
		else if (strncmp(p, "report=", 7) == 0)
			snprintf(uf.report, sizeof(uf.report), "%.*s", (int)strcspn(p + 7, ","), p + 7);
	}
	if (!(rate > 0 && rate <= 0.5))
		return false;
	uf.threshold = (uint32_t)(rate * 4294967296.0);
	uf.on = true;
	if (uf.report[0])
		atexit(report);
	return true;
}

uint64_t el_uf_rng(unsigned ring)
{
	return uf.seed * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)ring + 1) << 17 ^ 0x5851f42d4c957f2dULL;
}

/* splitmix64 */
static uint64_t next_random(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Whether this call of kind call (0 receive, 1 send, 2 accept) fails. */
static bool fault_now(uint64_t *rng, int call)
{
	if (!uf.on)
		return false;
	if ((uint32_t)next_random(rng) >= uf.threshold || in_a_row[call] >= 2) {
		in_a_row[call] = 0;
		return false;
	}
	in_a_row[call]++;
	return true;
}

static long io_fault(uint64_t *rng, size_t len, int call)
{
	if (!fault_now(rng, call))
		return 0;
	enum kind base = call == 0 ? SHORT_READ : SHORT_WRITE;
	unsigned pick = (unsigned)(next_random(rng) % (call == 0 ? 4 : 3));
	if (pick == 0 && len < 2)
		pick = 1; /* nothing shorter to submit */
	atomic_fetch_add(&uf.counts[base + pick], 1);
	switch (pick) {
	case 0: return 1 + (long)(next_random(rng) % (len - 1));
	case 1: return -EINTR;
	case 2: return -EAGAIN;
	default: return -ENOBUFS;
	}
}

long el_uf_recv(uint64_t *rng, size_t len)
{
	return io_fault(rng, len, 0);
}

long el_uf_send(uint64_t *rng, size_t len)
{
	return io_fault(rng, len, 1);
}

long el_uf_accept(uint64_t *rng)
{
	if (!fault_now(rng, 2))
		return 0;
	static const long errs[] = {-EMFILE, -ENFILE, -ENOBUFS};
	unsigned pick = (unsigned)(next_random(rng) % 3);
	atomic_fetch_add(&uf.counts[ACCEPT_EMFILE + pick], 1);
	return errs[pick];
}
