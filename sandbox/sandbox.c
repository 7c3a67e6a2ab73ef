#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CG_ROOT "/sys/fs/cgroup"
/* The trap: the default route's end, and its peer. */
#define TRAP_IF "elsbxt0"
#define TRAP_PEER "elsbxt1"
/* How often el_sbx_wait looks at the limits. */
#define WATCH_NS 20000000L

/* v1's controllers, each a hierarchy of its own, in this order. */
enum { V1_PIDS, V1_MEMORY, V1_CPUACCT, V1_FREEZER, V1_N };
static const char *const v1_names[V1_N] = {"pids", "memory", "cpuacct", "freezer"};

struct el_sbx {
	char name[64];
	char dir[PATH_MAX];
	struct el_sbx_limits lim;
	int version;               /* cgroup v2 or v1 */
	char cg[V1_N][PATH_MAX];   /* v2: cg[0] alone */
	int ncg;
	int net_fd, origin_fd;     /* the sandbox's namespace; the caller's */
	int dev_fd;                /* its /proc/net/dev, opened inside: any
				    * thread reads the trap's counter */
	bool inside;               /* the calling thread is in net_fd */
	char bwrap[PATH_MAX];
};

static const char *const end_names[] = {
	"exited", "signaled", "process-limit", "memory-limit", "cpu-limit", "wall-limit",
};

const char *el_sbx_end_name(enum el_sbx_end e)
{
	return e >= 0 && e < (int)(sizeof(end_names) / sizeof(end_names[0])) ? end_names[e] : "?";
}

static int fail(char *why, size_t len, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return err;
}

/* Writes val into dir/file. Returns 0 or -errno. */
static int put(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, val, strlen(val));
	int err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

/* Reads dir/file into buf (NUL-terminated). Returns its length or -errno. */
static ssize_t get(const char *dir, const char *file, char *buf, size_t len)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = 0;
	return n;
}

/* The number after "key " on a line of dir/file ("max 3"), or 0. */
static uint64_t get_key(const char *dir, const char *file, const char *key)
{
	char buf[4096];
	if (get(dir, file, buf, sizeof(buf)) < 0)
		return 0;
	size_t klen = strlen(key);
	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			return strtoull(line + klen + 1, NULL, 10);
	return 0;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* 2 when cgroup v2 has pids and memory, 1 when v1 has the four, 0. */
static int cgroup_version(void)
{
	char buf[512];
	if (get(CG_ROOT, "cgroup.controllers", buf, sizeof(buf)) > 0 && strstr(buf, "pids") &&
	    strstr(buf, "memory"))
		return 2;
	for (int i = 0; i < V1_N; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), CG_ROOT "/%s/cgroup.procs", v1_names[i]);
		if (!exists(path))
			return 0;
	}
	return 1;
}

/* bwrap on PATH, or in /usr/bin. */
static bool find_bwrap(char *out, size_t len)
{
	const char *path = getenv("PATH");
	char dirs[4096];
	snprintf(dirs, sizeof(dirs), "%s:/usr/bin", path ? path : "");
	for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/bwrap", d);
		if (access(out, X_OK) == 0)
			return true;
	}
	return false;
}

int el_sbx_check(char *why, size_t whylen)
{
	char bwrap[PATH_MAX];
	if (geteuid() != 0)
		return fail(why, whylen, -ENOTSUP,
			    "the sandbox needs root (network namespaces and cgroups), and this runs as uid %u",
			    (unsigned)geteuid());
	if (!find_bwrap(bwrap, sizeof(bwrap)))
		return fail(why, whylen, -ENOTSUP, "the sandbox needs bubblewrap (bwrap), not found on PATH: "
						   "apt-get install bubblewrap");
	if (!cgroup_version())
		return fail(why, whylen, -ENOTSUP,
			    "the sandbox needs cgroups: neither v2 with pids and memory (" CG_ROOT
			    "/cgroup.controllers) nor v1 with pids, memory, cpuacct and freezer (" CG_ROOT
			    "/pids ...) is mounted here");
	return 0;
}

/* Runs argv (ip) and waits. Returns 0 when it exited 0, else -EIO. */
static int run(char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static int link_up(const char *ifname)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	int err = rc < 0 ? -errno : 0;
	close(fd);
	return err;
}

/* In the new namespace: loopback up, and the trap (IPv6 off on it, so
 * that it sends nothing of its own). Returns 0 or -errno. */
static int build_net(char *why, size_t whylen)
{
	int rc = link_up("lo");
	if (rc < 0)
		return fail(why, whylen, rc, "loopback up: %s", strerror(-rc));
	char *add[] = {"ip", "link", "add", TRAP_IF, "type", "veth", "peer", "name", TRAP_PEER, NULL};
	char *route[] = {"ip", "route", "add", "default", "dev", TRAP_IF, NULL};
	if (run(add) < 0)
		return fail(why, whylen, -EIO, "ip link add %s type veth: failed (is iproute2 installed?)", TRAP_IF);
	const char *ifs[] = {TRAP_IF, TRAP_PEER};
	for (int i = 0; i < 2; i++) {
		char dir[128];
		snprintf(dir, sizeof(dir), "/proc/sys/net/ipv6/conf/%s", ifs[i]);
		put(dir, "disable_ipv6", "1");
		if ((rc = link_up(ifs[i])) < 0)
			return fail(why, whylen, rc, "%s up: %s", ifs[i], strerror(-rc));
	}
	if (run(route) < 0)
		return fail(why, whylen, -EIO, "ip route add default dev %s: failed", TRAP_IF);
	return 0;
}

static int make_netns(struct el_sbx *s, char *why, size_t whylen)
{
	s->origin_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (s->origin_fd < 0)
		return fail(why, whylen, -errno, "open /proc/thread-self/ns/net: %s", strerror(errno));
	if (unshare(CLONE_NEWNET) < 0)
		return fail(why, whylen, -errno, "unshare(CLONE_NEWNET): %s", strerror(errno));
	int rc = build_net(why, whylen);
	if (rc == 0) {
		s->net_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		s->dev_fd = open("/proc/thread-self/net/dev", O_RDONLY | O_CLOEXEC);
		if (s->net_fd < 0 || s->dev_fd < 0)
			rc = fail(why, whylen, -errno, "open the new namespace: %s", strerror(errno));
	}
	if (setns(s->origin_fd, CLONE_NEWNET) < 0 && rc == 0)
		rc = fail(why, whylen, -errno, "back to the caller's namespace: %s", strerror(errno));
	return rc;
}

/* v1: the caller's own cgroup of controller name ("/a/b", or "" at the
 * root), from /proc/self/cgroup, so that a sandbox nests under whatever
 * limits the caller is under (a test's safety net). */
static void own_v1_path(const char *name, char *out, size_t len)
{
	out[0] = 0;
	FILE *f = fopen("/proc/self/cgroup", "r");
	if (!f)
		return;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':'), *p = c ? strchr(c + 1, ':') : NULL;
		if (!p)
			continue;
		*p = 0;
		for (char *save, *t = strtok_r(c + 1, ",", &save); t; t = strtok_r(NULL, ",", &save))
			if (strcmp(t, name) == 0) {
				p[1 + strcspn(p + 1, "\n")] = 0;
				snprintf(out, len, "%s", strcmp(p + 1, "/") == 0 ? "" : p + 1);
			}
	}
	fclose(f);
}

static int make_cgroups(struct el_sbx *s, char *why, size_t whylen)
{
	char leaf[128], val[64];
	snprintf(leaf, sizeof(leaf), "echolab-sbx-%ld-%s", (long)getpid(), s->name);
	s->version = cgroup_version();
	if (s->version == 2) {
		/* The root's children get the controllers (cpu for cpu.stat's
		 * detail is not needed: usage_usec is always there). */
		put(CG_ROOT, "cgroup.subtree_control", "+pids");
		put(CG_ROOT, "cgroup.subtree_control", "+memory");
		snprintf(s->cg[0], sizeof(s->cg[0]), CG_ROOT "/%s", leaf);
		s->ncg = 1;
	} else {
		for (int i = 0; i < V1_N; i++) {
			char own[PATH_MAX / 2];
			own_v1_path(v1_names[i], own, sizeof(own));
			snprintf(s->cg[i], sizeof(s->cg[i]), CG_ROOT "/%s%s/%s", v1_names[i], own, leaf);
		}
		s->ncg = V1_N;
	}
	for (int i = 0; i < s->ncg; i++)
		if (mkdir(s->cg[i], 0755) < 0)
			return fail(why, whylen, -errno, "mkdir %s: %s", s->cg[i], strerror(errno));
	const char *pids = s->cg[0], *mem = s->version == 2 ? s->cg[0] : s->cg[V1_MEMORY];
	snprintf(val, sizeof(val), "%ld", s->lim.pids);
	int rc = put(pids, "pids.max", val);
	if (rc < 0)
		return fail(why, whylen, rc, "%s/pids.max: %s", pids, strerror(-rc));
	snprintf(val, sizeof(val), "%lld", (long long)s->lim.memory_mib << 20);
	rc = put(mem, s->version == 2 ? "memory.max" : "memory.limit_in_bytes", val);
	if (rc < 0)
		return fail(why, whylen, rc, "%s: the memory limit: %s", mem, strerror(-rc));
	/* No swap past the limit, where the kernel has it. */
	put(mem, s->version == 2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes",
	    s->version == 2 ? "0" : val);
	return 0;
}

static int chown_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return lchown(path, EL_SBX_UID, EL_SBX_GID) < 0 ? -1 : 0;
}

struct el_sbx *el_sbx_create(const char *name, const char *dir, const struct el_sbx_limits *lim, char *why,
			     size_t whylen)
{
	if (el_sbx_check(why, whylen) < 0)
		return NULL;
	size_t nlen = strlen(name);
	if (nlen == 0 || nlen >= 48 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != nlen) {
		fail(why, whylen, -EINVAL, "sandbox name '%s': letters, digits, '-' and '_', up to 47", name);
		return NULL;
	}
	struct el_sbx *s = calloc(1, sizeof(*s));
	if (!s) {
		fail(why, whylen, -ENOMEM, "out of memory");
		return NULL;
	}
	s->net_fd = s->origin_fd = s->dev_fd = -1;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->lim = lim ? *lim : EL_SBX_LIMITS_DEFAULT;
	find_bwrap(s->bwrap, sizeof(s->bwrap));
	if (!realpath(dir, s->dir)) {
		fail(why, whylen, -errno, "%s: %s", dir, strerror(errno));
		goto err;
	}
	if (nftw(s->dir, chown_one, 32, FTW_PHYS) != 0) {
		fail(why, whylen, -errno, "chown -R %s to the sandbox user: %s", s->dir, strerror(errno));
		goto err;
	}
	if (make_cgroups(s, why, whylen) < 0 || make_netns(s, why, whylen) < 0)
		goto err;
	return s;
err:
	el_sbx_destroy(s);
	return NULL;
}

int el_sbx_enter_child(const struct el_sbx *s)
{
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int i = 0; i < s->ncg; i++) {
		int rc = put(s->cg[i], "cgroup.procs", pid);
		if (rc < 0)
			return rc;
	}
	if (setns(s->net_fd, CLONE_NEWNET) < 0)
		return -errno;
	struct rlimit core = {0, 0};
	setrlimit(RLIMIT_CORE, &core);
	if (setgroups(0, NULL) < 0 || setresgid(EL_SBX_GID, EL_SBX_GID, EL_SBX_GID) < 0 ||
	    setresuid(EL_SBX_UID, EL_SBX_UID, EL_SBX_UID) < 0)
		return -errno;
	return 0;
}

/* bwrap's arguments before the command: a merged /usr (Debian 12,
 * Ubuntu), where /lib, /bin ... are links into it. */
static const char *const bwrap_args[] = {
	"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
	"--die-with-parent", "--new-session", "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
	"--setenv", "HOME", EL_SBX_DIR, "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
	"--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
	"--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
};
#define NBWRAP_ARGS (sizeof(bwrap_args) / sizeof(bwrap_args[0]))

/* Appends s to out, quoted for sh. Returns false when out is full. */
static bool quote(char *out, size_t len, size_t *at, const char *str)
{
	size_t n = *at;
	if (n + 1 >= len)
		return false;
	out[n++] = '\'';
	for (; *str; str++) {
		const char *piece = *str == '\'' ? "'\\''" : NULL;
		size_t plen = piece ? strlen(piece) : 1;
		if (n + plen + 2 >= len)
			return false;
		if (piece) {
			memcpy(out + n, piece, plen);
			n += plen;
		} else {
			out[n++] = *str;
		}
	}
	out[n++] = '\'';
	out[n++] = ' ';
	out[n] = 0;
	*at = n;
	return true;
}

int el_sbx_wrap(const struct el_sbx *s, const char *cmd, char *out, size_t len)
{
	size_t at = 0;
	const char *tail[] = {"--bind", s->dir, EL_SBX_DIR, "--chdir", EL_SBX_DIR, "--", "/bin/sh", "-c", cmd};
	int n = snprintf(out, len, "exec ");
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	at = (size_t)n;
	bool ok = quote(out, len, &at, s->bwrap);
	for (size_t i = 0; ok && i < NBWRAP_ARGS; i++)
		ok = quote(out, len, &at, bwrap_args[i]);
	for (size_t i = 0; ok && i < sizeof(tail) / sizeof(tail[0]); i++)
		ok = quote(out, len, &at, tail[i]);
	return ok ? 0 : -ENAMETOOLONG;
}

pid_t el_sbx_spawn(struct el_sbx *s, const char *cmd, int out_fd)
{
	const char *argv[NBWRAP_ARGS + 12];
	size_t n = 0;
	argv[n++] = s->bwrap;
	for (size_t i = 0; i < NBWRAP_ARGS; i++)
		argv[n++] = bwrap_args[i];
	const char *tail[] = {"--bind", s->dir, EL_SBX_DIR, "--chdir", EL_SBX_DIR, "--", "/bin/sh", "-c", cmd};
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
		argv[n++] = tail[i];
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(out_fd >= 0 ? out_fd : null, 1);
		dup2(out_fd >= 0 ? out_fd : null, 2);
		int rc = el_sbx_enter_child(s);
		if (rc < 0) {
			dprintf(2, "sandbox: entering it: %s\n", strerror(-rc));
			_exit(126);
		}
		execv(s->bwrap, (char *const *)argv);
		dprintf(2, "sandbox: exec %s: %s\n", s->bwrap, strerror(errno));
		_exit(127);
	}
	return pid;
}

/* The trap's packets: the namespace's /proc/net/dev, opened inside (a
 * proc file keeps the namespace it was opened in), read from the start. */
static uint64_t trap_packets(struct el_sbx *s)
{
	char buf[8192];
	ssize_t n = pread(s->dev_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	uint64_t tx = 0;
	char *p = strstr(buf, TRAP_IF ":");
	unsigned long long f[10];
	/* Receive: bytes packets errs drop fifo frame compressed multicast;
	 * transmit: bytes packets ... */
	if (p && sscanf(p + strlen(TRAP_IF ":"), "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1],
			&f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9]) == 10)
		tx = f[9];
	return tx;
}

int el_sbx_events(struct el_sbx *s, struct el_sbx_events *ev)
{
	memset(ev, 0, sizeof(*ev));
	const char *pids = s->cg[0], *mem = s->version == 2 ? s->cg[0] : s->cg[V1_MEMORY];
	ev->pids_max = get_key(pids, "pids.events", "max");
	ev->oom_kills = get_key(mem, s->version == 2 ? "memory.events" : "memory.oom_control", "oom_kill");
	char buf[64];
	if (s->version == 2)
		ev->cpu_s = (double)get_key(s->cg[0], "cpu.stat", "usage_usec") / 1e6;
	else if (get(s->cg[V1_CPUACCT], "cpuacct.usage", buf, sizeof(buf)) > 0)
		ev->cpu_s = (double)strtoull(buf, NULL, 10) / 1e9;
	ev->outside = trap_packets(s);
	return 0;
}

bool el_sbx_over_cpu(const struct el_sbx *s, const struct el_sbx_events *ev)
{
	return s->lim.cpu_s > 0 && ev->cpu_s > s->lim.cpu_s;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int el_sbx_wait(struct el_sbx *s, pid_t pid, struct el_sbx_result *r)
{
	memset(r, 0, sizeof(*r));
	double t0 = mono_s();
	int st = 0;
	bool killed = false;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w < 0 && errno != EINTR)
			return -errno;
		if (w == pid)
			break;
		el_sbx_events(s, &r->ev);
		double wall = mono_s() - t0;
		if (!killed && el_sbx_over_cpu(s, &r->ev)) {
			r->end = EL_SBX_CPU_LIMIT;
			killed = true;
			el_sbx_kill_all(s);
		} else if (!killed && s->lim.wall_s > 0 && wall > s->lim.wall_s) {
			r->end = EL_SBX_WALL_LIMIT;
			killed = true;
			el_sbx_kill_all(s);
		}
		struct timespec nap = {0, WATCH_NS};
		nanosleep(&nap, NULL);
	}
	r->wall_s = mono_s() - t0;
	/* What it left running (a daemon) goes with it. */
	el_sbx_kill_all(s);
	el_sbx_events(s, &r->ev);
	if (killed)
		return 0;
	r->code = WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st);
	if (r->ev.oom_kills > 0)
		r->end = EL_SBX_MEMORY_LIMIT;
	else if (r->ev.pids_max > 0)
		r->end = EL_SBX_PROCESS_LIMIT;
	else
		r->end = WIFEXITED(st) ? EL_SBX_EXITED : EL_SBX_SIGNALED;
	return 0;
}

int el_sbx_enter_net(struct el_sbx *s)
{
	if (setns(s->net_fd, CLONE_NEWNET) < 0)
		return -errno;
	s->inside = true;
	return 0;
}

int el_sbx_leave_net(struct el_sbx *s)
{
	if (setns(s->origin_fd, CLONE_NEWNET) < 0)
		return -errno;
	s->inside = false;
	return 0;
}

/* The pids of the sandbox's cgroup; returns how many (at most max). */
static int procs(const struct el_sbx *s, pid_t *out, int max)
{
	char buf[65536];
	if (get(s->cg[0], "cgroup.procs", buf, sizeof(buf)) < 0)
		return 0;
	int n = 0;
	for (char *p = buf; *p && n < max;) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		out[n++] = (pid_t)v;
		p = end + (*end == '\n');
	}
	return n;
}

/* Whether pid is one of bubblewrap's own processes. */
static bool is_bwrap(pid_t pid)
{
	char dir[32], comm[32];
	snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	return get(dir, "comm", comm, sizeof(comm)) > 0 && strcmp(comm, "bwrap\n") == 0;
}

int el_sbx_signal(struct el_sbx *s, int sig)
{
	pid_t pids[4096];
	int n = procs(s, pids, 4096), sent = 0;
	for (int i = 0; i < n; i++)
		if (!is_bwrap(pids[i]) && kill(pids[i], sig) == 0)
			sent++;
	return sent;
}

int el_sbx_kill_all(struct el_sbx *s)
{
	pid_t pids[4096];
	/* v2's cgroup.kill kills them all at once, forks in flight too; v1
	 * freezes them first, so that none forks while they are killed. */
	bool frozen = false;
	if (s->version == 2) {
		put(s->cg[0], "cgroup.kill", "1");
	} else if (put(s->cg[V1_FREEZER], "freezer.state", "FROZEN") == 0) {
		frozen = true;
		char state[32];
		for (int i = 0; i < 100; i++) {
			if (get(s->cg[V1_FREEZER], "freezer.state", state, sizeof(state)) > 0 && strncmp(state, "FROZEN", 6) == 0)
				break;
			struct timespec nap = {0, 10000000};
			nanosleep(&nap, NULL);
		}
	}
	int left = 0;
	for (int round = 0; round < 200; round++) {
		int n = procs(s, pids, 4096);
		if (n == 0) {
			left = 0;
			break;
		}
		left = n;
		for (int i = 0; i < n; i++)
			kill(pids[i], SIGKILL);
		if (frozen) {
			/* A frozen process dies once thawed. */
			put(s->cg[V1_FREEZER], "freezer.state", "THAWED");
			frozen = false;
		}
		struct timespec nap = {0, 10000000};
		nanosleep(&nap, NULL);
	}
	if (frozen)
		put(s->cg[V1_FREEZER], "freezer.state", "THAWED");
	return left;
}

void el_sbx_destroy(struct el_sbx *s)
{
	if (!s)
		return;
	if (s->ncg > 0)
		el_sbx_kill_all(s);
	if (s->inside)
		el_sbx_leave_net(s);
	for (int i = s->ncg - 1; i >= 0; i--)
		for (int k = 0; k < 50 && rmdir(s->cg[i]) < 0 && errno == EBUSY; k++) {
			struct timespec nap = {0, 20000000};
			nanosleep(&nap, NULL);
		}
	if (s->net_fd >= 0)
		close(s->net_fd);
	if (s->origin_fd >= 0)
		close(s->origin_fd);
	if (s->dev_fd >= 0)
		close(s->dev_fd);
	free(s);
}
