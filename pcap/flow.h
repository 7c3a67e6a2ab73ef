/* TCP flow analysis of a packet capture: decodes Ethernet, Linux cooked
 * (v1, v2), BSD loopback and raw IP link types, follows each TCP
 * connection (one flow per connection, even when a later connection reuses
 * the 4-tuple) and counts what the kernel did on the wire: handshakes, SYN
 * and SYN-ACK retransmissions, data retransmissions, FINs, RSTs, bytes.
 *
 * Directions: the client is the endpoint that sent the first SYN (or, for
 * a flow whose start was not captured, the one whose port is not the
 * server's); index 0 of every per-direction array is client to server. */
#ifndef EL_FLOW_H
#define EL_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum el_flow_dir { EL_C2S = 0, EL_S2C = 1 };

enum el_flow_event_kind {
	EL_EV_SYN,          /* the client's first SYN */
	EL_EV_SYN_RETX,     /* a SYN with the same ISN again */
	EL_EV_SYNACK,       /* the server's first SYN-ACK */
	EL_EV_SYNACK_RETX,  /* a SYN-ACK with the same ISN again */
	EL_EV_ESTABLISHED,  /* the client's ACK of the SYN-ACK */
	EL_EV_DATA_RETX,    /* payload or FIN sent again (either way) */
	EL_EV_FIN,          /* the first FIN of a direction */
	EL_EV_RST,          /* every RST */
};

/* The name of an event kind, as the JSON output spells it ("syn", ...). */
const char *el_flow_event_name(enum el_flow_event_kind kind);

struct el_flow_event {
	double t;                /* seconds since the capture's first packet */
	enum el_flow_event_kind kind;
	enum el_flow_dir dir;
};

struct el_endpoint {
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
	bool v6;
	uint16_t port;
};

struct el_flow {
	struct el_endpoint client, server;
	double t_first, t_last;
	bool saw_syn;            /* the capture holds the connection's start */
	bool handshake;          /* SYN, SYN-ACK and the ACK of it */
	unsigned syn_retransmits, synack_retransmits;
	unsigned data_retransmits[2];
	unsigned fins[2];        /* distinct FINs: 0 or 1 each way */
	unsigned resets[2];
	uint64_t bytes[2];       /* payload, each byte counted once */
	double first_data[2];    /* seconds since the capture's first packet
				  * of the first payload byte each way; -1: none */
	uint64_t packets[2];
	struct el_flow_event *events;
	size_t nevents, cap_events;
	/* Sequence tracking, private to the analyser. */
	uint32_t isn[2], next[2];
	bool have_isn[2], have_next[2];
};

struct el_flow_totals {
	size_t flows, handshakes;
	unsigned syn_retransmits, synack_retransmits, data_retransmits;
	unsigned fins, resets;
	uint64_t packets, tcp_packets, bytes;
};

/* Flows in the order their first packet was captured. */
struct el_flow_table {
	struct el_flow *flows;
	size_t n, cap;
	size_t *slots; /* open addressing: index + 1 of the latest flow of a tuple */
	size_t nslots;
	uint16_t port;   /* 0: every TCP packet; else only this port */
	double t0;
	bool have_t0;
	uint64_t packets;      /* every packet read, TCP or not */
	uint64_t tcp_packets;  /* TCP packets of the port that were analysed */
	uint64_t short_packets; /* cut by the snap length before the TCP header */
};

/* An empty table that keeps the TCP packets of port (0: every port). */
void el_flow_table_init(struct el_flow_table *t, uint16_t port);
/* Frees the flows and their events; the table can be initialised again. */
void el_flow_table_finish(struct el_flow_table *t);

/* Feeds one captured packet of link type dlt (a DLT_ value of libpcap):
 * caplen bytes of it were captured, and t is its time in seconds.
 * Returns 0 (also for a packet that is not TCP, or not of the port),
 * -EPROTONOSUPPORT for a link type the analyser does not decode, or
 * -ENOMEM. */
int el_flow_add_packet(struct el_flow_table *t, int dlt, const uint8_t *pkt, size_t caplen,
		       double ts);

/* Reads a whole pcap file (or pcapng, as libpcap reads it) into t.
 * Returns 0, or a negative errno with the reason in err: -ENOENT and
 * the like when it cannot be opened, -EINVAL when it is not a capture,
 * -EPROTONOSUPPORT for a link type it does not decode, -EIO when the file
 * is cut short (t keeps the packets before the cut). */
int el_flow_read_file(struct el_flow_table *t, const char *path, char *err, size_t errlen);

/* Sums the table's flows. */
void el_flow_totals(const struct el_flow_table *t, struct el_flow_totals *sum);

/* Writes an endpoint as "addr:port" ("[addr]:port" for IPv6) into buf.
 * Returns buf. */
char *el_endpoint_str(const struct el_endpoint *e, char *buf, size_t len);

#endif
