/* A network namespace of the caller's own, with only lo, up: a capture
 * and the kernel's TCP counters (/proc/net/netstat) there hold the
 * caller's traffic and nothing else. Needs root (or CAP_SYS_ADMIN and
 * CAP_NET_ADMIN). */
#ifndef EL_NETNS_H
#define EL_NETNS_H

#include <stddef.h>

/* Moves the calling process (it must be single-threaded) into a new
 * network namespace and brings lo up. Returns 0, or -errno with a
 * one-line reason in why. */
int el_netns_enter_own(char *why, size_t len);

/* The namespace's TCP counters that a listen queue shows in. */
struct el_tcp_counters {
	long listen_overflows, listen_drops, syn_retrans;
};

/* Reads them from /proc/net/netstat. Returns 0, or -errno (-ENOENT when
 * a counter is missing). */
int el_tcp_counters_read(struct el_tcp_counters *c);

#endif
