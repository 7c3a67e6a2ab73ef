/* Live capture into a pcap file, from a thread of its own: started and
 * stopped from C around the traffic a test makes. libpcap's immediate
 * mode on lo dropped 10-20% of packets at 10k msgs/s (its ring slots are
 * sized by the snap length); a read timeout with a large buffer dropped
 * none, so that is what this uses. */
#ifndef EL_CAPTURE_H
#define EL_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

struct el_capture;

struct el_capture_opts {
	const char *iface;   /* "lo" when NULL */
	const char *filter;  /* a BPF expression, e.g. "tcp port 7000"; NULL: all */
	const char *path;    /* the pcap file to write */
	int snaplen;         /* bytes kept per packet; 0: 65535 */
	int buffer_mib;      /* the kernel ring; 0: 32 MiB */
	int timeout_ms;      /* how long a block waits to be delivered; 0: 50 */
};

struct el_capture_stats {
	uint64_t packets;       /* written to the file */
	uint64_t kernel_drops;  /* ps_drop: dropped for want of ring space */
	uint64_t iface_drops;   /* ps_ifdrop */
	/* libpcap's ps_recv is not reported: on lo it counts each packet
	 * twice (the outgoing copy is discarded after counting). */
};

/* Opens iface, applies the filter, opens the file and starts the capture
 * thread; packets sent after it returns are captured. Returns 0, or a
 * negative errno with the reason in err: -EPERM without permission to
 * capture, -ENODEV without that interface, -EINVAL for a bad filter, the
 * errno of the file, -EIO for anything else libpcap reports. */
int el_capture_start(struct el_capture **out, const struct el_capture_opts *o, char *err,
		     size_t errlen);

/* Delivers what the kernel still holds (it waits a few read timeouts for
 * that), stops the thread, closes the file and frees c. Returns 0, or
 * -EIO when writing the file failed (reason in err); st gets the counts
 * either way. c may be NULL (returns 0, st zeroed). */
int el_capture_stop(struct el_capture *c, struct el_capture_stats *st, char *err, size_t errlen);

#endif
