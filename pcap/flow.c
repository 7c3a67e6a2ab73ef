#include "flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { TH_FIN = 0x01, TH_SYN = 0x02, TH_RST = 0x04, TH_ACK = 0x10 };

/* libpcap's headers leave out the link types of other systems' numbering;
 * these are the values pcap files carry. */
#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

const char *el_flow_event_name(enum el_flow_event_kind kind)
{
	static const char *const names[] = {
		[EL_EV_SYN] = "syn",
		[EL_EV_SYN_RETX] = "syn_retransmit",
		[EL_EV_SYNACK] = "synack",
		[EL_EV_SYNACK_RETX] = "synack_retransmit",
		[EL_EV_ESTABLISHED] = "established",
		[EL_EV_DATA_RETX] = "data_retransmit",
		[EL_EV_FIN] = "fin",
		[EL_EV_RST] = "rst",
	};
	return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

char *el_endpoint_str(const struct el_endpoint *e, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	inet_ntop(e->v6 ? AF_INET6 : AF_INET, e->addr, a, sizeof(a));
	snprintf(buf, len, e->v6 ? "[%s]:%u" : "%s:%u", a, e->port);
	return buf;
}

void el_flow_table_init(struct el_flow_table *t, uint16_t port)
{
	memset(t, 0, sizeof(*t));
	t->port = port;
}

void el_flow_table_finish(struct el_flow_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->flows[i].events);
	free(t->flows);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Sequence number comparisons modulo 2^32 (RFC 9293). */
static bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static bool seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

static bool endpoint_eq(const struct el_endpoint *a, const struct el_endpoint *b)
{
	return a->v6 == b->v6 && a->port == b->port && memcmp(a->addr, b->addr, 16) == 0;
}

static int endpoint_cmp(const struct el_endpoint *a, const struct el_endpoint *b)
{
	int c = memcmp(a->addr, b->addr, 16);
	if (c)
		return c;
	return (a->port > b->port) - (a->port < b->port);
}

/* The hash of a connection's 4-tuple, the same for both directions. */
static uint64_t tuple_hash(const struct el_endpoint *a, const struct el_endpoint *b)
{
	if (endpoint_cmp(a, b) > 0) {
		const struct el_endpoint *x = a;
		a = b;
		b = x;
	}
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	const struct el_endpoint *e[2] = {a, b};
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < 16; k++)
			h = (h ^ e[i]->addr[k]) * 1099511628211ULL;
		h = (h ^ (e[i]->port & 0xff)) * 1099511628211ULL;
		h = (h ^ (e[i]->port >> 8)) * 1099511628211ULL;
	}
	return h;
}

static bool flow_has(const struct el_flow *f, const struct el_endpoint *a,
		     const struct el_endpoint *b)
{
	return (endpoint_eq(&f->client, a) && endpoint_eq(&f->server, b)) ||
	       (endpoint_eq(&f->client, b) && endpoint_eq(&f->server, a));
}

/* The slot of the tuple: the one holding its latest flow, or the empty one
 * where it goes. */
static size_t *find_slot(struct el_flow_table *t, const struct el_endpoint *a,
			 const struct el_endpoint *b)
{
	size_t mask = t->nslots - 1;
	for (size_t i = tuple_hash(a, b) & mask;; i = (i + 1) & mask) {
		size_t s = t->slots[i];
		if (s == 0 || flow_has(&t->flows[s - 1], a, b))
			return &t->slots[i];
	}
}

static int grow_slots(struct el_flow_table *t)
{
	size_t n = t->nslots ? 2 * t->nslots : 1024;
	size_t *slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	free(t->slots);
	t->slots = slots;
	t->nslots = n;
	/* Later flows of a tuple overwrite earlier ones: the latest wins. */
	for (size_t i = 0; i < t->n; i++)
		*find_slot(t, &t->flows[i].client, &t->flows[i].server) = i + 1;
	return 0;
}

static struct el_flow *new_flow(struct el_flow_table *t, const struct el_endpoint *client,
				const struct el_endpoint *server, double ts)
{
	if (2 * (t->n + 1) > t->nslots && grow_slots(t) < 0)
		return NULL;
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct el_flow *v = realloc(t->flows, cap * sizeof(*v));
		if (!v)
			return NULL;
		t->flows = v;
		t->cap = cap;
	}
	struct el_flow *f = &t->flows[t->n++];
	memset(f, 0, sizeof(*f));
	f->client = *client;
	f->server = *server;
	f->t_first = f->t_last = ts;
	f->first_data[0] = f->first_data[1] = -1;
	*find_slot(t, client, server) = t->n;
	return f;
}

static int add_event(struct el_flow *f, double ts, enum el_flow_event_kind kind,
		     enum el_flow_dir dir)
{
	if (f->nevents == f->cap_events) {
		size_t cap = f->cap_events ? 2 * f->cap_events : 8;
		struct el_flow_event *v = realloc(f->events, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		f->events = v;
		f->cap_events = cap;
	}
	f->events[f->nevents++] = (struct el_flow_event){ts, kind, dir};
	return 0;
}

struct segment {
	struct el_endpoint src, dst;
	uint32_t seq, ack;
	uint8_t flags;
	uint32_t payload;
};

/* Decodes the TCP header at p (len bytes captured) whose segment is
 * seglen bytes long on the wire. Returns 1, 0 when it is not a usable TCP
 * segment, -1 when the capture cut the header. */
static int decode_tcp(const uint8_t *p, size_t len, size_t seglen, struct segment *s)
{
	if (len < 20)
		return -1;
	size_t hlen = (size_t)(p[12] >> 4) * 4;
	if (hlen < 20 || hlen > seglen)
		return 0;
	s->src.port = get16(p);
	s->dst.port = get16(p + 2);
	s->seq = get32(p + 4);
	s->ack = get32(p + 8);
	s->flags = p[13];
	s->payload = (uint32_t)(seglen - hlen);
	return 1;
}

/* Decodes an IPv4 or IPv6 packet (its version from the first byte). */
static int decode_ip(const uint8_t *p, size_t len, struct segment *s)
{
	if (len < 1)
		return -1;
	memset(&s->src, 0, sizeof(s->src));
	memset(&s->dst, 0, sizeof(s->dst));
	if (p[0] >> 4 == 4) {
		if (len < 20)
			return -1;
		size_t ihl = (size_t)(p[0] & 15) * 4, total = get16(p + 2);
		/* Fragments other than a whole datagram carry no usable TCP
		 * header in every piece: skip them. */
		if (ihl < 20 || total < ihl || p[9] != 6 || (get16(p + 6) & 0x3fff))
			return 0;
		memcpy(s->src.addr, p + 12, 4);
		memcpy(s->dst.addr, p + 16, 4);
		if (len < ihl)
			return -1;
		/* TSO on the sender's side can leave total at 0 in a capture. */
		size_t seglen = total ? total - ihl : len - ihl;
		return decode_tcp(p + ihl, len - ihl, seglen, s);
	}
	if (p[0] >> 4 == 6) {
		if (len < 40)
			return -1;
		size_t plen = get16(p + 4), off = 40;
		uint8_t next = p[6];
		memcpy(s->src.addr, p + 8, 16);
		memcpy(s->dst.addr, p + 24, 16);
		s->src.v6 = s->dst.v6 = true;
		/* Hop-by-hop, routing and destination options precede TCP. */
		while (next == 0 || next == 43 || next == 60) {
			if (len < off + 8)
				return -1;
			size_t ext = ((size_t)p[off + 1] + 1) * 8;
			next = p[off];
			off += ext;
		}
		if (next != 6 || plen + 40 < off)
			return 0;
		if (len < off)
			return -1;
		return decode_tcp(p + off, len - off, plen + 40 - off, s);
	}
	return 0;
}

/* Strips the link header: returns the offset of the IP header, -1 when
 * the packet is not IP, -2 when the link type is not decoded. */
static long link_offset(int dlt, const uint8_t *p, size_t len)
{
	switch (dlt) {
	case DLT_EN10MB: {
		size_t off = 12;
		uint16_t type;
		for (;;) {
			if (len < off + 2)
				return -1;
			type = get16(p + off);
			if (type != 0x8100 && type != 0x88a8)
				break;
			off += 4; /* a VLAN tag */
		}
		return type == 0x0800 || type == 0x86dd ? (long)off + 2 : -1;
	}
	case DLT_LINUX_SLL:
		if (len < 16)
			return -1;
		return get16(p + 14) == 0x0800 || get16(p + 14) == 0x86dd ? 16 : -1;
	case DLT_LINUX_SLL2:
		if (len < 20)
			return -1;
		return get16(p) == 0x0800 || get16(p) == 0x86dd ? 20 : -1;
	case DLT_NULL:
	case DLT_LOOP:
		/* The address family, in either byte order: AF_INET is 2
		 * everywhere, AF_INET6 is 10, 24, 28 or 30. */
		return len >= 4 ? 4 : -1;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case 14: /* DLT_RAW of OpenBSD */
		return 0;
	default:
		return -2;
	}
}

static bool supported_dlt(int dlt)
{
	uint8_t dummy[32] = {0};
	return link_offset(dlt, dummy, sizeof(dummy)) != -2;
}

/* The flow a segment belongs to, created when it starts one. */
static struct el_flow *flow_of(struct el_flow_table *t, const struct segment *s, double ts)
{
	bool pure_syn = (s->flags & (TH_SYN | TH_ACK)) == TH_SYN;
	size_t slot = 0;
	if (t->nslots)
		slot = *find_slot(t, &s->src, &s->dst);
	if (slot) {
		struct el_flow *f = &t->flows[slot - 1];
		/* A SYN with another ISN, or from the other side, is a new
		 * connection on the same 4-tuple (port reuse). */
		if (!pure_syn)
			return f;
		if (endpoint_eq(&f->client, &s->src) && f->have_isn[EL_C2S] &&
		    f->isn[EL_C2S] == s->seq)
			return f;
	}
	const struct el_endpoint *client = &s->src, *server = &s->dst;
	if (!pure_syn) {
		/* The start was not captured: the SYN-ACK's sender, or the
		 * endpoint of the port asked for, is the server. */
		if ((s->flags & TH_SYN) || (t->port && s->src.port == t->port &&
					    s->dst.port != t->port)) {
			client = &s->dst;
			server = &s->src;
		}
	}
	return new_flow(t, client, server, ts);
}

static int add_segment(struct el_flow_table *t, const struct segment *s, double ts)
{
	struct el_flow *f = flow_of(t, s, ts);
	if (!f)
		return -ENOMEM;
	enum el_flow_dir d = endpoint_eq(&f->client, &s->src) ? EL_C2S : EL_S2C;
	f->packets[d]++;
	f->t_last = ts;
	double rel = ts - t->t0;
	if (s->flags & TH_RST) {
		f->resets[d]++;
		return add_event(f, rel, EL_EV_RST, d);
	}
	if (s->flags & TH_SYN) {
		bool synack = s->flags & TH_ACK;
		/* A SYN-ACK from the client or a SYN from the server
		 * (simultaneous open) is not the handshake echolab checks. */
		if (synack != (d == EL_S2C))
			return 0;
		if (!f->have_isn[d]) {
			f->have_isn[d] = f->have_next[d] = true;
			f->isn[d] = s->seq;
			f->next[d] = s->seq + 1;
			if (d == EL_C2S)
				f->saw_syn = true;
			return add_event(f, rel, synack ? EL_EV_SYNACK : EL_EV_SYN, d);
		}
		if (s->seq != f->isn[d])
			return 0;
		if (synack)
			f->synack_retransmits++;
		else
			f->syn_retransmits++;
		return add_event(f, rel, synack ? EL_EV_SYNACK_RETX : EL_EV_SYN_RETX, d);
	}
	if (d == EL_C2S && (s->flags & TH_ACK) && !f->handshake && f->saw_syn &&
	    f->have_isn[EL_S2C] && s->ack == f->isn[EL_S2C] + 1) {
		f->handshake = true;
		if (add_event(f, rel, EL_EV_ESTABLISHED, d) < 0)
			return -ENOMEM;
	}
	bool fin = s->flags & TH_FIN;
	uint32_t seglen = s->payload + (fin ? 1 : 0);
	if (seglen == 0)
		return 0; /* a pure ACK, a keep-alive or a window probe */
	if (!f->have_next[d]) {
		f->have_next[d] = true;
		f->next[d] = s->seq;
	}
	/* A keep-alive with one byte of garbage (some stacks send it: Linux
	 * sends none) is not a retransmission, as Wireshark says too. */
	if (!fin && s->payload == 1 && s->seq == f->next[d] - 1)
		return 0;
	uint32_t end = s->seq + seglen;
	bool retransmit = seq_lt(s->seq, f->next[d]);
	uint32_t fresh = seglen;
	if (retransmit)
		fresh = seq_gt(end, f->next[d]) ? end - f->next[d] : 0;
	if (seq_gt(end, f->next[d]))
		f->next[d] = end;
	/* The FIN is the last sequence number of the segment: it is new
	 * when anything is. */
	bool new_fin = fin && fresh > 0;
	f->bytes[d] += fresh - (new_fin ? 1 : 0);
	if (fresh > (new_fin ? 1u : 0u) && f->first_data[d] < 0)
		f->first_data[d] = rel;
	if (retransmit) {
		f->data_retransmits[d]++;
		if (add_event(f, rel, EL_EV_DATA_RETX, d) < 0)
			return -ENOMEM;
	}
	if (new_fin && f->fins[d] == 0) {
		f->fins[d] = 1;
		return add_event(f, rel, EL_EV_FIN, d);
	}
	return 0;
}

int el_flow_add_packet(struct el_flow_table *t, int dlt, const uint8_t *pkt, size_t caplen,
		       double ts)
{
	if (!t->have_t0) {
		t->t0 = ts;
		t->have_t0 = true;
	}
	t->packets++;
	long off = link_offset(dlt, pkt, caplen);
	if (off == -2)
		return -EPROTONOSUPPORT;
	if (off < 0)
		return 0;
	struct segment s;
	int rc = decode_ip(pkt + off, caplen - (size_t)off, &s);
	if (rc < 0)
		t->short_packets++;
	if (rc <= 0)
		return 0;
	if (t->port && s.src.port != t->port && s.dst.port != t->port)
		return 0;
	t->tcp_packets++;
	return add_segment(t, &s, ts);
}

int el_flow_read_file(struct el_flow_table *t, const char *path, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	struct stat st;
	if (stat(path, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	if (!p) {
		snprintf(err, errlen, "%s: not a capture libpcap reads: %s", path, ebuf);
		return -EINVAL;
	}
	int dlt = pcap_datalink(p);
	if (!supported_dlt(dlt)) {
		const char *name = pcap_datalink_val_to_name(dlt);
		snprintf(err, errlen,
			 "%s: link type %s (%d) is not decoded (Ethernet, Linux cooked, "
			 "loopback and raw IP are)",
			 path, name ? name : "unknown", dlt);
		pcap_close(p);
		return -EPROTONOSUPPORT;
	}
	struct pcap_pkthdr *h;
	const u_char *data;
	int rc, result = 0;
	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		double ts = (double)h->ts.tv_sec + (double)h->ts.tv_usec * 1e-9;
		int r = el_flow_add_packet(t, dlt, data, h->caplen, ts);
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
			result = r;
			break;
		}
	}
	if (rc == PCAP_ERROR) {
		snprintf(err, errlen, "%s: cut short after %llu packets: %s", path,
			 (unsigned long long)t->packets, pcap_geterr(p));
		result = -EIO;
	}
	pcap_close(p);
	return result;
}

void el_flow_totals(const struct el_flow_table *t, struct el_flow_totals *sum)
{
	memset(sum, 0, sizeof(*sum));
	sum->flows = t->n;
	sum->packets = t->packets;
	sum->tcp_packets = t->tcp_packets;
	for (size_t i = 0; i < t->n; i++) {
		const struct el_flow *f = &t->flows[i];
		sum->handshakes += f->handshake;
		sum->syn_retransmits += f->syn_retransmits;
		sum->synack_retransmits += f->synack_retransmits;
		for (int d = 0; d < 2; d++) {
			sum->data_retransmits += f->data_retransmits[d];
			sum->fins += f->fins[d];
			sum->resets += f->resets[d];
			sum->bytes += f->bytes[d];
		}
	}
}
