/* An emulated LAN for the wire suite (the lab ran between two machines on
 * a home network): two network namespaces joined by a veth pair, the
 * server's side 10.77.0.1 and the client's 10.77.0.2, with delay and loss
 * on the link.
 *
 * The calling process moves into a new namespace, the server's; the
 * client's is held by a child process. Both vanish with their processes,
 * so nothing outlives a test, however it ends. Delay is tc netem on the
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

#define LAN_SERVER_ADDR "10.77.0.1"
#define LAN_CLIENT_ADDR "10.77.0.2"

struct lan {
	pid_t holder;    /* holds the client's namespace */
	pid_t delayer;   /* the NFQUEUE consumer, or 0 */
	int client_ns;   /* an fd of the client's namespace */
	int server_ns;   /* an fd of the server's (the caller's) namespace */
	char mechanism[32]; /* "netem", "nfqueue", "+iptables" for loss */
};

/* Builds the LAN: delay_ms one way (client to server), loss the fraction
 * of client-to-server packets dropped. Returns 0; or -ENOTSUP with the
 * reason in why when this machine cannot (not root, no ip or iptables,
 * neither netem nor NFQUEUE); other errors fail the running test. */
int lan_create(struct lan *l, int delay_ms, double loss, char *why, size_t whylen);

/* Moves the calling thread (the whole process when it has one thread)
 * into one side's namespace: sockets and captures it opens afterwards are
 * on that side. */
void lan_enter_client(const struct lan *l);
void lan_enter_server(const struct lan *l);

/* Stops the delay consumer and the namespace holder. */
void lan_destroy(struct lan *l);

#endif
