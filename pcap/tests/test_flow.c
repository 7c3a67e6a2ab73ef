/* The TCP flow analyser on crafted packets: each case builds the packets
 * of one situation (a clean connection, a SYN sent again, ...), feeds them
 * to the analyser or writes them to a pcap file with libpcap, and checks
 * what it reports. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

enum { FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10 };

/* One endpoint of the crafted connections. */
struct host {
	const char *addr; /* dotted IPv4 or IPv6 text */
	uint16_t port;
};

static const struct host cli = {"127.0.0.1", 40000}, srv = {"127.0.0.1", 7000};

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* Builds a TCP segment with len bytes of payload behind the link header of
 * dlt. Returns the packet's length. */
static size_t build(uint8_t *pkt, int dlt, struct host from, struct host to, uint32_t seq,
		    uint32_t ack, uint8_t flags, size_t len)
{
	bool v6 = strchr(from.addr, ':') != NULL;
	size_t off;
	unsigned type = v6 ? 0x86dd : 0x0800;
	memset(pkt, 0, 128 + len);
	switch (dlt) {
	case DLT_EN10MB:
		put16(pkt + 12, type);
		off = 14;
		break;
	case DLT_LINUX_SLL:
		put16(pkt + 14, type);
		off = 16;
		break;
	case DLT_LINUX_SLL2:
		put16(pkt, type);
		off = 20;
		break;
	default: /* DLT_RAW */
		off = 0;
	}
	uint8_t *ip = pkt + off, *tcp;
	if (v6) {
		ip[0] = 0x60;
		put16(ip + 4, (unsigned)(20 + len));
		ip[6] = 6;
		ip[7] = 64;
		cr_assert_eq(inet_pton(AF_INET6, from.addr, ip + 8), 1);
		cr_assert_eq(inet_pton(AF_INET6, to.addr, ip + 24), 1);
		tcp = ip + 40;
	} else {
		ip[0] = 0x45;
		put16(ip + 2, (unsigned)(20 + 20 + len));
		ip[8] = 64;
		ip[9] = 6;
		cr_assert_eq(inet_pton(AF_INET, from.addr, ip + 12), 1);
		cr_assert_eq(inet_pton(AF_INET, to.addr, ip + 16), 1);
		tcp = ip + 20;
	}
	put16(tcp, from.port);
	put16(tcp + 2, to.port);
	put32(tcp + 4, seq);
	put32(tcp + 8, ack);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	put16(tcp + 14, 65535);
	for (size_t i = 0; i < len; i++)
		tcp[20 + i] = (uint8_t)('a' + i % 26);
	return (size_t)(tcp + 20 + len - pkt);
}

/* A scripted packet: who sends, sequence, ack, flags, payload length. */
struct step {
	bool from_server;
	uint32_t seq, ack;
	uint8_t flags;
	size_t len;
};

static void feed(struct el_flow_table *t, const struct step *s, size_t n, double t0)
{
	uint8_t pkt[2048];
	for (size_t i = 0; i < n; i++) {
		struct host a = s[i].from_server ? srv : cli, b = s[i].from_server ? cli : srv;
		size_t len = build(pkt, DLT_EN10MB, a, b, s[i].seq, s[i].ack, s[i].flags, s[i].len);
		cr_assert_eq(el_flow_add_packet(t, DLT_EN10MB, pkt, len, t0 + 0.001 * (double)i), 0);
	}
}

/* Client ISN 1000, server ISN 5000. */
#define C(seq, ack, flags, len) {false, seq, ack, flags, len}
#define S(seq, ack, flags, len) {true, seq, ack, flags, len}
#define HANDSHAKE C(1000, 0, SYN, 0), S(5000, 1001, SYN | ACK, 0), C(1001, 5001, ACK, 0)

static const struct step clean[] = {
	HANDSHAKE,
	C(1001, 5001, PSH | ACK, 6),
	S(5001, 1007, PSH | ACK, 50),
	C(1007, 5051, ACK, 0),
	C(1007, 5051, FIN | ACK, 0),
	S(5051, 1008, FIN | ACK, 0),
	C(1008, 5052, ACK, 0),
};

static void expect_counts(const struct el_flow *f, unsigned syn_rtx, unsigned sa_rtx,
			  unsigned d0, unsigned d1)
{
	cr_expect_eq(f->syn_retransmits, syn_rtx);
	cr_expect_eq(f->synack_retransmits, sa_rtx);
	cr_expect_eq(f->data_retransmits[EL_C2S], d0);
	cr_expect_eq(f->data_retransmits[EL_S2C], d1);
}

Test(flow, clean_connection)
{
	struct el_flow_table t;
	el_flow_table_init(&t, 0);
	feed(&t, clean, sizeof(clean) / sizeof(clean[0]), 100.0);
	cr_assert_eq(t.n, 1);
	const struct el_flow *f = &t.flows[0];
	cr_expect_eq(f->client.port, 40000, "the SYN's sender is the client");
	cr_expect_eq(f->server.port, 7000);
	cr_expect(f->saw_syn && f->handshake);
	expect_counts(f, 0, 0, 0, 0);
	cr_expect_eq(f->fins[EL_C2S], 1);
	cr_expect_eq(f->fins[EL_S2C], 1);
	cr_expect_eq(f->resets[EL_C2S] + f->resets[EL_S2C], 0);
	cr_expect_eq(f->bytes[EL_C2S], 6);
	cr_expect_eq(f->bytes[EL_S2C], 50);
	cr_expect_eq(f->packets[EL_C2S], 6);
	cr_expect_eq(f->packets[EL_S2C], 3);
	cr_expect_float_eq(f->first_data[EL_C2S], 0.003, 1e-9, "the message, 4th packet");
	cr_expect_float_eq(f->first_data[EL_S2C], 0.004, 1e-9, "the reply, 5th packet");
	static const enum el_flow_event_kind kinds[] = {EL_EV_SYN, EL_EV_SYNACK,
							 EL_EV_ESTABLISHED, EL_EV_FIN, EL_EV_FIN};
	cr_assert_eq(f->nevents, 5);
	for (size_t i = 0; i < 5; i++)
		cr_expect_eq(f->events[i].kind, kinds[i], "event %zu: %s", i,
			     el_flow_event_name(f->events[i].kind));
	cr_expect_eq(f->events[3].dir, EL_C2S);
	cr_expect_eq(f->events[4].dir, EL_S2C);
	cr_expect_float_eq(f->events[1].t, 0.001, 1e-9, "times are from the first packet");
	struct el_flow_totals sum;
	el_flow_totals(&t, &sum);
	cr_expect_eq(sum.flows, 1);
	cr_expect_eq(sum.handshakes, 1);
	cr_expect_eq(sum.fins, 2);
	cr_expect_eq(sum.bytes, 56);
	el_flow_table_finish(&t);
}

/* A SYN that got no answer is sent again with the same ISN: what the
 * clients of a full accept queue do. */
Test(flow, syn_retransmission)
{
	static const struct step s[] = {
		C(1000, 0, SYN, 0), C(1000, 0, SYN, 0), C(1000, 0, SYN, 0),
		S(5000, 1001, SYN | ACK, 0), C(1001, 5001, ACK, 0),
	};
	struct el_flow_table t;
	el_flow_table_init(&t, 0);
	feed(&t, s, sizeof(s) / sizeof(s[0]), 0);
	cr_assert_eq(t.n, 1, "the same ISN is the same connection");
	expect_counts(&t.flows[0], 2, 0, 0, 0);
	cr_expect(t.flows[0].handshake);
	cr_expect_eq(t.flows[0].events[1].kind, EL_EV_SYN_RETX);
	cr_expect_float_eq(t.flows[0].events[2].t, 0.002, 1e-9);
	el_flow_table_finish(&t);
}

/* The server's SYN-ACK sent again: the client's ACK of it was lost, or the
 * accept queue was full when the ACK came. */
Test(flow, synack_retransmission)
{
	static const struct step s[] = {
		C(1000, 0, SYN, 0), S(5000, 1001, SYN | ACK, 0), C(1001, 5001, ACK, 0),
		S(5000, 1001, SYN | ACK, 0), C(1001, 5001, ACK, 0),
	};
	struct el_flow_table t;
	el_flow_table_init(&t, 0);
	feed(&t, s, sizeof(s) / sizeof(s[0]), 0);
	cr_assert_eq(t.n, 1);
	expect_counts(&t.flows[0], 0, 1, 0, 0);
	el_flow_table_finish(&t);
}

/* Payload sent again, whole or overlapping: each byte counts once, each
 * segment that resends anything is one retransmission; a FIN sent again
 * is one too. */
Test(flow, data_retransmission)
{
	static const struct step s[] = {
		HANDSHAKE,
		C(1001, 5001, PSH | ACK, 6),
		C(1001, 5001, PSH | ACK, 6),  /* the same bytes */
		C(1004, 5001, PSH | ACK, 10), /* 3 old, 7 new */
		C(1014, 5001, PSH | ACK, 4),  /* new */
		S(5001, 1018, FIN | ACK, 0),
		S(5001, 1018, FIN | ACK, 0),  /* the FIN again */
	};
	struct el_flow_table t;
	el_flow_table_init(&t, 0);
	feed(&t, s, sizeof(s) / sizeof(s[0]), 0);
	cr_assert_eq(t.n, 1);
	const struct el_flow *f = &t.flows[0];
	expect_counts(f, 0, 0, 2, 1);
	cr_expect_eq(f->bytes[EL_C2S], 17);
	cr_expect_eq(f->fins[EL_S2C], 1, "a FIN sent twice is one FIN");
	cr_expect_float_eq(f->first_data[EL_C2S], 0.003, 1e-9, "the first payload, not the resent one");
	cr_expect_eq(f->first_data[EL_S2C], -1, "a FIN alone is no payload: %f", f->first_data[EL_S2C]);
	el_flow_table_finish(&t);
}

/* Keep-alives (no payload, or one byte, one below the next sequence) and
 * pure ACKs are not retransmissions. */
Test(flow, keepalives_are_not_retransmissions)
{
	static const struct step s[] = {
		HANDSHAKE,
		C(1001, 5001, PSH | ACK, 6),
		C(1006, 5001, ACK, 0),
		C(1006, 5001, ACK, 1),
		S(5001, 1007, ACK, 0),
		S(5001, 1007, ACK, 0),
	};
	struct el_flow_table t;
	el_flow_table_init(&t, 0);
	feed(&t, s, sizeof(s) / sizeof(s[0]), 0);
	expect_counts(&t.flows[0], 0, 0, 0, 0);
	el_flow_table_finish(&t);
}

/* A client that resets: one RST from the client; another connection at
 * the same time is untouched. */
Test(flow, reset_from_the_client)
{
	struct el_flow_table t;
	el_flow_table_init(&t, 0);
	feed(&t, clean, 3, 0);
	uint8_t pkt[256];
	struct host other = {"127.0.0.1", 40001};
	size_t len = build(pkt, DLT_EN10MB, other, srv, 9000, 0, SYN, 0);
	cr_assert_eq(el_flow_add_packet(&t, DLT_EN10MB, pkt, len, 1), 0);
	len = build(pkt, DLT_EN10MB, srv, other, 7000, 9001, SYN | ACK, 0);
	cr_assert_eq(el_flow_add_packet(&t, DLT_EN10MB, pkt, len, 1), 0);
	len = build(pkt, DLT_EN10MB, cli, srv, 1001, 5001, RST | ACK, 0);
	cr_assert_eq(el_flow_add_packet(&t, DLT_EN10MB, pkt, len, 2), 0);
	cr_assert_eq(t.n, 2);
	cr_expect_eq(t.flows[0].resets[EL_C2S], 1);
	cr_expect_eq(t.flows[0].resets[EL_S2C], 0);
	cr_expect_eq(t.flows[0].events[t.flows[0].nevents - 1].kind, EL_EV_RST);
	cr_expect_eq(t.flows[1].resets[EL_C2S] + t.flows[1].resets[EL_S2C], 0);
	cr_expect_eq(t.flows[1].client.port, 40001);
	el_flow_table_finish(&t);
}

/* A new SYN (another ISN) on a 4-tuple that already carried a connection
 * is a new flow: one flow per connection. */
Test(flow, port_reuse_is_a_new_flow)
{
	struct el_flow_table t;
	el_flow_table_init(&t, 0);
	feed(&t, clean, sizeof(clean) / sizeof(clean[0]), 0);
	static const struct step again[] = {
		C(77000, 0, SYN, 0), S(88000, 77001, SYN | ACK, 0), C(77001, 88001, ACK, 0),
		C(77001, 88001, PSH | ACK, 3),
	};
	feed(&t, again, 4, 1);
	cr_assert_eq(t.n, 2);
	cr_expect(t.flows[1].handshake);
	cr_expect_eq(t.flows[1].bytes[EL_C2S], 3);
	expect_counts(&t.flows[0], 0, 0, 0, 0);
	expect_counts(&t.flows[1], 0, 0, 0, 0);
	cr_expect_eq(t.flows[0].bytes[EL_C2S], 6, "the old flow is left as it was");
	el_flow_table_finish(&t);
}

/* Sequence numbers wrap at 2^32 in the middle of a connection. */
Test(flow, sequence_numbers_wrap)
{
	static const struct step s[] = {
		C(0xfffffff0u, 0, SYN, 0), S(5000, 0xfffffff1u, SYN | ACK, 0),
		C(0xfffffff1u, 5001, ACK, 0),
		C(0xfffffff1u, 5001, PSH | ACK, 32), /* crosses zero */
		C(0x00000011u, 5001, PSH | ACK, 4),
		C(0x00000001u, 5001, PSH | ACK, 4),  /* old bytes after the wrap */
	};
	struct el_flow_table t;
	el_flow_table_init(&t, 0);
	feed(&t, s, sizeof(s) / sizeof(s[0]), 0);
	cr_assert_eq(t.n, 1);
	expect_counts(&t.flows[0], 0, 0, 1, 0);
	cr_expect_eq(t.flows[0].bytes[EL_C2S], 36);
	el_flow_table_finish(&t);
}

/* A capture that starts in the middle of a connection: no handshake, the
 * port asked for is the server's, and the bytes still count. */
Test(flow, connection_already_open)
{
	static const struct step s[] = {
		S(5001, 1007, PSH | ACK, 50),
		C(1007, 5051, PSH | ACK, 5),
	};
	struct el_flow_table t;
	el_flow_table_init(&t, 7000);
	feed(&t, s, 2, 0);
	cr_assert_eq(t.n, 1);
	cr_expect(!t.flows[0].saw_syn && !t.flows[0].handshake);
	cr_expect_eq(t.flows[0].server.port, 7000);
	cr_expect_eq(t.flows[0].bytes[EL_S2C], 50);
	cr_expect_eq(t.flows[0].bytes[EL_C2S], 5);
	el_flow_table_finish(&t);
}

/* --port keeps only that port's packets. */
Test(flow, port_filter)
{
	struct el_flow_table t;
	el_flow_table_init(&t, 7001);
	feed(&t, clean, sizeof(clean) / sizeof(clean[0]), 0);
	cr_expect_eq(t.n, 0);
	cr_expect_eq(t.packets, sizeof(clean) / sizeof(clean[0]));
	cr_expect_eq(t.tcp_packets, 0);
	el_flow_table_finish(&t);
}

/* A packet cut by the snap length before the end of its TCP header is
 * counted, not decoded from bytes that are not there. */
Test(flow, packets_cut_by_the_snap_length)
{
	uint8_t pkt[256];
	size_t len = build(pkt, DLT_EN10MB, cli, srv, 1000, 0, SYN, 0);
	struct el_flow_table t;
	el_flow_table_init(&t, 0);
	for (size_t cut = 0; cut < len; cut++)
		cr_assert_eq(el_flow_add_packet(&t, DLT_EN10MB, pkt, cut, 0), 0);
	cr_expect_eq(t.n, 0);
	cr_expect_eq(t.short_packets, len - 14, "every cut after the Ethernet header");
	el_flow_table_finish(&t);
}

/* Writes the steps of a connection to a pcap file of link type dlt. */
static void write_pcap(const char *path, int dlt, struct host c, struct host s,
		       const struct step *st, size_t n)
{
	pcap_t *p = pcap_open_dead(dlt, 65535);
	cr_assert_not_null(p);
	pcap_dumper_t *d = pcap_dump_open(p, path);
	cr_assert_not_null(d, "%s", pcap_geterr(p));
	uint8_t pkt[2048];
	for (size_t i = 0; i < n; i++) {
		struct host a = st[i].from_server ? s : c, b = st[i].from_server ? c : s;
		size_t len = build(pkt, dlt, a, b, st[i].seq, st[i].ack, st[i].flags, st[i].len);
		struct pcap_pkthdr h = {.ts = {1700000000 + (long)i, 250000 + 1000 * (long)i}, .caplen = (bpf_u_int32)len,
					.len = (bpf_u_int32)len};
		pcap_dump((u_char *)d, &h, pkt);
	}
	pcap_dump_close(d);
	pcap_close(p);
}

static void temp_path(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/echolab-flow-XXXXXX");
	int fd = mkstemp(buf);
	cr_assert_geq(fd, 0);
	close(fd);
}

/* The same connection in the link types echolab decodes, over IPv4 and
 * IPv6, read back from a file. */
Test(flow, link_types_and_ipv6_from_a_file)
{
	static const int dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW};
	struct host c6 = {"::1", 40000}, s6 = {"2001:db8::7", 7000};
	for (size_t i = 0; i < 2 * sizeof(dlts) / sizeof(dlts[0]); i++) {
		bool v6 = i % 2;
		char path[64];
		temp_path(path, sizeof(path));
		write_pcap(path, dlts[i / 2], v6 ? c6 : cli, v6 ? s6 : srv, clean,
			   sizeof(clean) / sizeof(clean[0]));
		struct el_flow_table t;
		el_flow_table_init(&t, 7000);
		char err[512];
		int rc = el_flow_read_file(&t, path, err, sizeof(err));
		cr_assert_eq(rc, 0, "dlt %d: %s", dlts[i / 2], err);
		cr_assert_eq(t.n, 1, "dlt %d v6 %d", dlts[i / 2], v6);
		cr_expect(t.flows[0].handshake);
		cr_expect_eq(t.flows[0].bytes[EL_S2C], 50);
		cr_expect_eq(t.flows[0].client.v6, v6);
		char ep[64];
		cr_expect_str_eq(el_endpoint_str(&t.flows[0].server, ep, sizeof(ep)),
				 v6 ? "[2001:db8::7]:7000" : "127.0.0.1:7000");
		cr_expect_float_eq(t.flows[0].t_last - t.t0, 8.008, 1e-6,
				   "timestamps of the file, to the microsecond: %f", t.flows[0].t_last - t.t0);
		el_flow_table_finish(&t);
		unlink(path);
	}
}

/* A file cut in the middle of a packet: a clear error, and the flows up to
 * the cut. */
Test(flow, truncated_file)
{
	char path[64];
	temp_path(path, sizeof(path));
	write_pcap(path, DLT_EN10MB, cli, srv, clean, sizeof(clean) / sizeof(clean[0]));
	FILE *f = fopen(path, "r+");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fclose(f);
	cr_assert_eq(truncate(path, size - 10), 0);
	struct el_flow_table t;
	el_flow_table_init(&t, 0);
	char err[512] = "";
	cr_expect_eq(el_flow_read_file(&t, path, err, sizeof(err)), -EIO);
	cr_expect_not_null(strstr(err, "cut short after"), "%s", err);
	cr_expect_eq(t.packets, sizeof(clean) / sizeof(clean[0]) - 1);
	cr_expect_eq(t.n, 1);
	el_flow_table_finish(&t);
	/* Cut inside the file header: not a capture at all. */
	cr_assert_eq(truncate(path, 10), 0);
	el_flow_table_init(&t, 0);
	cr_expect_eq(el_flow_read_file(&t, path, err, sizeof(err)), -EINVAL);
	cr_expect_not_null(strstr(err, path), "%s", err);
	el_flow_table_finish(&t);
	unlink(path);
}

Test(flow, other_link_type_and_other_files)
{
	char path[64], err[512] = "";
	temp_path(path, sizeof(path));
	pcap_t *p = pcap_open_dead(DLT_IEEE802_11, 65535);
	pcap_dumper_t *d = pcap_dump_open(p, path);
	pcap_dump_close(d);
	pcap_close(p);
	struct el_flow_table t;
	el_flow_table_init(&t, 0);
	cr_expect_eq(el_flow_read_file(&t, path, err, sizeof(err)), -EPROTONOSUPPORT);
	cr_expect_not_null(strstr(err, "IEEE802_11"), "%s", err);
	el_flow_table_finish(&t);

	/* Text is not a capture. */
	{
		FILE *f = fopen(path, "w");
		fputs("this is not a capture file at all, just some text\n", f);
		fclose(f);
		el_flow_table_init(&t, 0);
		cr_expect_eq(el_flow_read_file(&t, path, err, sizeof(err)), -EINVAL);
		el_flow_table_finish(&t);
	}
	unlink(path);
	el_flow_table_init(&t, 0);
	cr_expect_eq(el_flow_read_file(&t, path, err, sizeof(err)), -ENOENT);
	cr_expect_not_null(strstr(err, "No such file"), "%s", err);
	el_flow_table_finish(&t);
}

/* Many connections at once, interleaved: every flow found, the table grows. */
Test(flow, thousands_of_interleaved_flows)
{
	struct el_flow_table t;
	el_flow_table_init(&t, 7000);
	uint8_t pkt[256];
	enum { N = 5000 };
	for (int round = 0; round < 3; round++)
		for (unsigned i = 0; i < N; i++) {
			struct host c = {"127.0.0.1", (uint16_t)(10000 + i)};
			size_t len;
			if (round == 0)
				len = build(pkt, DLT_EN10MB, c, srv, 100 * i, 0, SYN, 0);
			else if (round == 1)
				len = build(pkt, DLT_EN10MB, srv, c, 7, 100 * i + 1, SYN | ACK, 0);
			else
				len = build(pkt, DLT_EN10MB, c, srv, 100 * i + 1, 8, ACK, 0);
			cr_assert_eq(el_flow_add_packet(&t, DLT_EN10MB, pkt, len, round), 0);
		}
	struct el_flow_totals sum;
	el_flow_totals(&t, &sum);
	cr_expect_eq(sum.flows, N);
	cr_expect_eq(sum.handshakes, N);
	cr_expect_eq(sum.syn_retransmits + sum.synack_retransmits, 0);
	el_flow_table_finish(&t);
}
