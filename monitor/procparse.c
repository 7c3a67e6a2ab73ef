/* What /proc says, parsed (procstat.h): a process's stat, a status or
 * meminfo field, the CPU line of /proc/stat; and a /proc file read whole. */
#include "procstat.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int el_proc_parse_stat(const char *text, struct el_proc_stat *st)
{
	/* "pid (comm) state ppid ...": comm may contain ") ", so the fields
	 * start after the last ')'. */
	const char *close = strrchr(text, ')');
	if (!close || close[1] != ' ')
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->pid = (pid_t)strtol(text, NULL, 10);
	const char *p = close + 2;
	st->state = *p;
	/* Fields from 3 (state) on, numbered as proc(5) does. */
	unsigned long long v[25] = {0};
	int n = 0;
	p++;
	while (*p && n < 21) {
		char *end;
		long long x = strtoll(p, &end, 10);
		if (end == p)
			return -EINVAL;
		v[4 + n] = (unsigned long long)x;
		n++;
		p = end;
	}
	if (n < 21) /* up to rss, field 24 */
		return -EINVAL;
	st->ppid = (pid_t)v[4];
	st->utime = v[14];
	st->stime = v[15];
	st->cutime = v[16];
	st->cstime = v[17];
	st->threads = (long)v[20];
	st->rss_pages = (long)v[24];
	return 0;
}

long el_proc_field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0) {
			char *end;
			long v = strtol(p + klen, &end, 10);
			return end == p + klen ? -ENOENT : v;
		}
	}
	return -ENOENT;
}

int el_proc_parse_meminfo(const char *text, struct el_proc_meminfo *m)
{
	long total = el_proc_field(text, "MemTotal:");
	long free_ = el_proc_field(text, "MemFree:");
	long buffers = el_proc_field(text, "Buffers:");
	long cached = el_proc_field(text, "Cached:");
	long shared = el_proc_field(text, "Shmem:");
	long srec = el_proc_field(text, "SReclaimable:");
	if (total < 0 || free_ < 0 || buffers < 0 || cached < 0)
		return -EINVAL;
	m->total_kib = total;
	m->free_kib = free_;
	m->buffers_kib = buffers;
	m->cached_kib = cached + (srec > 0 ? srec : 0);
	m->shared_kib = shared > 0 ? shared : 0;
	m->used_kib = total - free_ - buffers - m->cached_kib;
	if (m->used_kib < 0)
		m->used_kib = total - free_;
	return 0;
}

int el_proc_parse_cpu(const char *text, struct el_proc_cpu *c)
{
	const char *p = strstr(text, "cpu ");
	if (!p || (p != text && p[-1] != '\n'))
		return -EINVAL;
	unsigned long long v[8] = {0};
	int n = sscanf(p + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		       &v[4], &v[5], &v[6], &v[7]);
	if (n < 4)
		return -EINVAL;
	*c = (struct el_proc_cpu){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
	return 0;
}

/* el_proc_read relative to a directory fd (AT_FDCWD: the path as given). */
ssize_t el_proc_read_at(int dir, const char *path, char *buf, size_t size)
{
	int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(fd);
			return -err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

ssize_t el_proc_read(const char *path, char *buf, size_t size)
{
	return el_proc_read_at(AT_FDCWD, path, buf, size);
}
