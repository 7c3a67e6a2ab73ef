#include "capture.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct el_capture {
	pcap_t *p;
	pcap_dumper_t *dumper;
	pthread_t thread;
	int wake_fd;          /* an eventfd: stop wakes the thread with it */
	int timeout_ms;
	atomic_bool stop;
	uint64_t packets;
	int error;            /* of the thread: a failed read */
	char errbuf[PCAP_ERRBUF_SIZE + 64];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct el_capture *c = (struct el_capture *)user;
	pcap_dump((u_char *)c->dumper, h, bytes);
	c->packets++;
}

/* Reads everything the kernel has delivered. Returns 0 or -EIO. */
static int drain(struct el_capture *c)
{
	for (;;) {
		int n = pcap_dispatch(c->p, -1, on_packet, (u_char *)c);
		/* Each batch reaches the file at once: a test that fails, or
		 * a program killed, leaves a file with what was seen. */
		if (n > 0)
			pcap_dump_flush(c->dumper);
		if (n == 0)
			return 0;
		if (n < 0) {
			snprintf(c->errbuf, sizeof(c->errbuf), "reading packets: %s",
				 pcap_geterr(c->p));
			return -EIO;
		}
	}
}

/* The handle is non-blocking: the thread sleeps in poll on the capture
 * socket and the stop eventfd, and reads whatever is ready. After a stop
 * it keeps reading for three read timeouts, the time the kernel takes to
 * hand over a partly filled block. */
static void *capture_thread(void *arg)
{
	struct el_capture *c = arg;
	struct pollfd pfd[2] = {
		{.fd = pcap_get_selectable_fd(c->p), .events = POLLIN},
		{.fd = c->wake_fd, .events = POLLIN},
	};
	int64_t stop_at = -1;
	for (;;) {
		if (stop_at < 0 && atomic_load(&c->stop))
			stop_at = now_ms() + 3 * c->timeout_ms;
		if (stop_at >= 0 && now_ms() >= stop_at)
			break;
		/* After a stop the eventfd stays readable: poll the socket. */
		poll(pfd, stop_at >= 0 ? 1 : 2, c->timeout_ms);
		if (drain(c) < 0) {
			c->error = -EIO;
			return NULL;
		}
	}
	if (drain(c) < 0)
		c->error = -EIO;
	return NULL;
}

__attribute__((format(printf, 5, 6))) static int fail(struct el_capture *c, char *err,
						      size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (c->dumper)
		pcap_dump_close(c->dumper);
	if (c->p)
		pcap_close(c->p);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	free(c);
	return rc;
}

static int activate_error(int rc)
{
	switch (rc) {
	case PCAP_ERROR_PERM_DENIED:
		return -EPERM;
	case PCAP_ERROR_NO_SUCH_DEVICE:
		return -ENODEV;
	default:
		return -EIO;
	}
}

int el_capture_start(struct el_capture **out, const struct el_capture_opts *o, char *err,
		     size_t errlen)
{
	struct el_capture *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->wake_fd = -1;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 50;
	const char *iface = o->iface ? o->iface : "lo";
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	c->p = pcap_create(iface, ebuf);
	if (!c->p)
		return fail(c, err, errlen, -ENODEV, "%s", ebuf);
	pcap_set_snaplen(c->p, o->snaplen > 0 ? o->snaplen : 65535);
	pcap_set_buffer_size(c->p, (o->buffer_mib > 0 ? o->buffer_mib : 32) << 20);
	pcap_set_timeout(c->p, c->timeout_ms);
	pcap_set_promisc(c->p, 0);
	int rc = pcap_activate(c->p);
	if (rc < 0) {
		char why[PCAP_ERRBUF_SIZE + 64];
		snprintf(why, sizeof(why), "capture on %s: %s%s", iface, pcap_statustostr(rc),
			 rc == PCAP_ERROR_PERM_DENIED ? " (capturing needs root or CAP_NET_RAW)"
						      : "");
		const char *detail = pcap_geterr(c->p);
		if (detail && *detail && rc != PCAP_ERROR_PERM_DENIED) {
			size_t n = strlen(why);
			snprintf(why + n, sizeof(why) - n, ": %s", detail);
		}
		return fail(c, err, errlen, activate_error(rc), "%s", why);
	}
	if (o->filter) {
		struct bpf_program prog;
		if (pcap_compile(c->p, &prog, o->filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
			char why[PCAP_ERRBUF_SIZE + 64];
			snprintf(why, sizeof(why), "filter \"%s\": %s", o->filter,
				 pcap_geterr(c->p));
			return fail(c, err, errlen, -EINVAL, "%s", why);
		}
		rc = pcap_setfilter(c->p, &prog);
		pcap_freecode(&prog);
		if (rc < 0)
			return fail(c, err, errlen, -EINVAL, "setting the filter: %s",
				    pcap_geterr(c->p));
	}
	if (pcap_setnonblock(c->p, 1, ebuf) < 0)
		return fail(c, err, errlen, -EIO, "%s", ebuf);
	errno = 0;
	c->dumper = pcap_dump_open(c->p, o->path);
	if (!c->dumper) {
		int e = errno ? errno : EIO;
		char why[PCAP_ERRBUF_SIZE + 64];
		snprintf(why, sizeof(why), "%s: %s", o->path, pcap_geterr(c->p));
		return fail(c, err, errlen, -e, "%s", why);
	}
	/* The file header on disk at once: a file with a header is a
	 * capture that is running. */
	pcap_dump_flush(c->dumper);
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0)
		return fail(c, err, errlen, -errno, "eventfd: %s", strerror(errno));
	/* Signals are for the program's own threads, not this one. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&c->thread, NULL, capture_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return fail(c, err, errlen, -rc, "starting the capture thread: %s", strerror(rc));
	*out = c;
	return 0;
}

int el_capture_stop(struct el_capture *c, struct el_capture_stats *st, char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	if (!c)
		return 0;
	atomic_store(&c->stop, true);
	uint64_t one = 1;
	if (write(c->wake_fd, &one, sizeof(one)) < 0) {
		/* The thread still sees the flag at its next timeout. */
	}
	pthread_join(c->thread, NULL);
	struct pcap_stat ps;
	if (pcap_stats(c->p, &ps) == 0) {
		st->kernel_drops = ps.ps_drop;
		st->iface_drops = ps.ps_ifdrop;
	}
	st->packets = c->packets;
	int rc = c->error;
	if (rc < 0)
		snprintf(err, errlen, "%s", c->errbuf);
	if (pcap_dump_flush(c->dumper) < 0 && rc == 0) {
		snprintf(err, errlen, "writing the capture file failed");
		rc = -EIO;
	}
	pcap_dump_close(c->dumper);
	pcap_close(c->p);
	close(c->wake_fd);
	free(c);
	return rc;
}
