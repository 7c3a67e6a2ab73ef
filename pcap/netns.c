#include "netns.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int el_netns_enter_own(char *why, size_t len)
{
	if (unshare(CLONE_NEWNET) < 0) {
		int e = errno;
		snprintf(why, len, "cannot make a network namespace (unshare: %s)",
			 strerror(e));
		return -e;
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		snprintf(why, len, "socket: %s", strerror(e));
		return -e;
	}
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	int e = errno;
	close(fd);
	if (rc < 0) {
		snprintf(why, len, "cannot bring lo up in the new namespace: %s", strerror(e));
		return -e;
	}
	return 0;
}

/* Two lines, "TcpExt: A B C" and "TcpExt: 1 2 3": the key's column. */
static long netstat_field(const char *names, const char *values, const char *key)
{
	size_t klen = strlen(key);
	const char *n = strchr(names, ' '), *v = strchr(values, ' ');
	while (n && v) {
		n++;
		v++;
		if (strncmp(n, key, klen) == 0 && (n[klen] == ' ' || n[klen] == '\n'))
			return strtol(v, NULL, 10);
		n = strchr(n, ' ');
		v = strchr(v, ' ');
	}
	return -1;
}

int el_tcp_counters_read(struct el_tcp_counters *c)
{
	FILE *f = fopen("/proc/net/netstat", "re");
	if (!f)
		return -errno;
	char names[8192], values[8192];
	c->listen_overflows = c->listen_drops = c->syn_retrans = -1;
	while (fgets(names, sizeof(names), f) && fgets(values, sizeof(values), f)) {
		if (strncmp(names, "TcpExt:", 7) != 0)
			continue;
		c->listen_overflows = netstat_field(names, values, "ListenOverflows");
		c->listen_drops = netstat_field(names, values, "ListenDrops");
		c->syn_retrans = netstat_field(names, values, "TCPSynRetrans");
	}
	fclose(f);
	return c->listen_overflows >= 0 && c->listen_drops >= 0 && c->syn_retrans >= 0 ? 0 : -ENOENT;
}
