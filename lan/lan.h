/* An emulated LAN (the lab ran between two machines on a home network):
 * two network namespaces joined by a veth pair, the server's side
 * 10.77.0.1 and the client's 10.77.0.2, with delay and loss on the link.
 * The wire suite builds it to watch the kernel's retransmissions, and
 * echolab-bench --lan to run the server and the load as two hosts.
 *
 * The calling process moves into a new namespace, the server's; the
 * client's is held by a child process. Both vanish with their processes,
 * so nothing outlives a run, however it ends. Delay is tc netem on the
 * client's egress where the kernel has it, else (this machine's kernel
 * has no netem) an NFQUEUE consumer there that holds each packet for the
 * delay (--queue-bypass: the link fails open if it dies). Loss is an
 * iptables statistic DROP on the server's ingress either way: netem drops
 * a packet before the sender's capture taps it. */
#ifndef EL_LAN_H
#define EL_LAN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define EL_LAN_SERVER_ADDR "10.77.0.1"
#define EL_LAN_CLIENT_ADDR "10.77.0.2"
#define EL_LAN_SERVER_IFACE "elsrv0"
#define EL_LAN_CLIENT_IFACE "elcli0"

struct el_lan {
	pid_t holder;       /* holds the client's namespace */
	pid_t delayer;      /* the NFQUEUE consumer, or 0 */
	int client_ns;      /* an fd of the client's namespace */
	int server_ns;      /* an fd of the server's namespace */
	int origin_ns;      /* the caller's namespace before el_lan_create */
	char mechanism[32]; /* "netem", "nfqueue", "+iptables" for loss; "" */
};

/* Builds the LAN: delay_ms one way (client to server), loss the fraction
 * of client-to-server packets dropped, and leaves the calling thread in
 * the server's namespace. Returns 0; -ENOTSUP with the reason in why when
 * this machine cannot (not root, no ip or iptables, neither netem nor
 * NFQUEUE); another -errno with the reason when a step failed. On an
 * error the caller is back in its own namespace and nothing is left. */
int el_lan_create(struct el_lan *l, int delay_ms, double loss, char *why, size_t whylen);

/* Moves the calling thread (the whole process when it has one thread)
 * into one side's namespace: sockets, threads and processes it makes
 * afterwards are on that side. Returns 0 or -errno. */
int el_lan_enter_client(const struct el_lan *l);
int el_lan_enter_server(const struct el_lan *l);

/* Stops the delay consumer and the namespace holder and returns the
 * calling thread to the namespace it had before el_lan_create. */
void el_lan_destroy(struct el_lan *l);

#endif
