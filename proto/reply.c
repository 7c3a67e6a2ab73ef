#include "reply.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int el_time_format(const struct timespec *ts, char out[EL_TIME_LEN + 1])
{
	struct tm tm;
	time_t secs = ts->tv_sec;
	if (!gmtime_r(&secs, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return -EOVERFLOW;
	/* snprintf cannot be proven short enough by gcc's format checker for
	 * every int; the ranges are checked above and below. */
	long usec = ts->tv_nsec / 1000;
	if (usec < 0 || usec > 999999)
		return -EOVERFLOW;
	int n = snprintf(out, EL_TIME_LEN + 1, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, usec);
	return n == EL_TIME_LEN ? 0 : -EOVERFLOW;
}

static bool digits(const char *s, size_t n, long *value)
{
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*value = v;
	return true;
}

int el_time_parse(const char *t, size_t len, struct timespec *ts)
{
	long year, mon, day, hour, min, sec, usec;
	if (len != EL_TIME_LEN || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
	    t[16] != ':' || t[19] != '.' || t[26] != 'Z')
		return -EINVAL;
	if (!digits(t, 4, &year) || !digits(t + 5, 2, &mon) || !digits(t + 8, 2, &day) ||
	    !digits(t + 11, 2, &hour) || !digits(t + 14, 2, &min) || !digits(t + 17, 2, &sec) ||
	    !digits(t + 20, 6, &usec))
		return -EINVAL;
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return -EINVAL;
	struct tm tm = {
		.tm_year = (int)year - 1900,
		.tm_mon = (int)mon - 1,
		.tm_mday = (int)day,
		.tm_hour = (int)hour,
		.tm_min = (int)min,
		.tm_sec = (int)sec,
	};
	time_t secs = timegm(&tm);
	/* timegm normalises 31 February into March: reject what it moved. */
	if (tm.tm_mday != day || tm.tm_mon != mon - 1)
		return -EINVAL;
	ts->tv_sec = secs;
	ts->tv_nsec = usec * 1000;
	return 0;
}

size_t el_addr_format_ipv6(const uint8_t a[16], char out[EL_ADDR_STRLEN])
{
	unsigned groups[8];
	for (int i = 0; i < 8; i++)
		groups[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];

	/* RFC 5952 4.2: the longest run of zero groups, at least two long,
	 * the first of equal runs. */
	int best = -1, best_len = 1;
	for (int i = 0; i < 8;) {
		if (groups[i] != 0) {
			i++;
			continue;
		}
		int j = i;
		while (j < 8 && groups[j] == 0)
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j;
	}

	size_t n = 0;
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			out[n++] = ':';
			out[n++] = ':';
			i += best_len - 1;
			continue;
		}
		if (i > 0 && i != best + best_len)
			out[n++] = ':';
		n += (size_t)snprintf(out + n, EL_ADDR_STRLEN - n, "%x", groups[i]);
	}
	out[n] = '\0';
	return n;
}

int el_addr_format(const struct sockaddr *sa, char out[EL_ADDR_STRLEN], unsigned *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, out, EL_ADDR_STRLEN);
		*port = ntohs(in->sin_port);
		return (int)strlen(out);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		*port = ntohs(in6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, out, EL_ADDR_STRLEN);
			return (int)strlen(out);
		}
		return (int)el_addr_format_ipv6(in6->sin6_addr.s6_addr, out);
	}
	return -EAFNOSUPPORT;
}

int el_reply_peer_init(struct el_reply_peer *p, const struct sockaddr *sa)
{
	int n = el_addr_format(sa, p->addr, &p->port);
	if (n < 0)
		return n;
	p->len = (size_t)snprintf(p->text, sizeof(p->text), "] [%s] [%u] [", p->addr, p->port);
	return 0;
}

size_t el_reply_size(const struct el_reply_peer *p, size_t msg_len)
{
	return 1 + EL_TIME_LEN + p->len + msg_len + 2;
}

static uint8_t *put(uint8_t *out, const void *src, size_t len)
{
	memcpy(out, src, len);
	return out + len;
}

size_t el_reply_write(uint8_t *out, const char time[EL_TIME_LEN], const struct el_reply_peer *p,
		      const uint8_t *msg, size_t msg_len)
{
	uint8_t *o = out;
	*o++ = '[';
	o = put(o, time, EL_TIME_LEN);
	o = put(o, p->text, p->len);
	if (msg_len > 0)
		o = put(o, msg, msg_len);
	*o++ = ']';
	*o++ = '\n';
	return (size_t)(o - out);
}

size_t el_reply_write_log(uint8_t *out, const char time[EL_TIME_LEN], const struct el_reply_peer *p,
			  const uint8_t *msg, size_t msg_len)
{
	uint8_t *o = out;
	*o++ = '[';
	o = put(o, time, EL_TIME_LEN);
	o = put(o, p->text, p->len);
	o += el_escape((char *)o, msg, msg_len);
	*o++ = ']';
	*o++ = '\n';
	return (size_t)(o - out);
}

size_t el_escape(char *out, const uint8_t *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];
		if (c == '\\') {
			out[n++] = '\\';
			out[n++] = '\\';
		} else if (c >= 0x20 && c <= 0x7e) {
			out[n++] = (char)c;
		} else {
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	return n;
}

/* Reads "[FIELD]" at line[*pos], leaving *pos after the ']' and the field
 * in [*start, *start + *flen). The field ends at the first ']'. */
static bool field(const uint8_t *line, size_t len, size_t *pos, size_t *start, size_t *flen)
{
	if (*pos >= len || line[*pos] != '[')
		return false;
	const uint8_t *close = memchr(line + *pos + 1, ']', len - *pos - 1);
	if (!close)
		return false;
	*start = *pos + 1;
	*flen = (size_t)(close - line) - *start;
	*pos = (size_t)(close - line) + 1;
	return true;
}

int el_reply_parse(const uint8_t *line, size_t len, struct el_reply *r)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[0] == '!')
		return EL_REPLY_ESERVER;

	size_t pos = 0, start[3], flen[3];
	for (int i = 0; i < 3; i++) {
		if (!field(line, len, &pos, &start[i], &flen[i]))
			return EL_REPLY_ESHAPE;
		if (pos + 1 >= len || line[pos] != ' ' || line[pos + 1] != '[')
			return EL_REPLY_ESHAPE;
		pos++;
	}
	/* MSG runs from after the fourth '[' to the last ']' of the line. */
	if (len < pos + 2 || line[len - 1] != ']')
		return EL_REPLY_ESHAPE;

	if (el_time_parse((const char *)line + start[0], flen[0], &r->time) < 0)
		return EL_REPLY_ETIME;

	if (flen[1] == 0 || flen[1] >= EL_ADDR_STRLEN)
		return EL_REPLY_EADDR;
	memcpy(r->addr, line + start[1], flen[1]);
	r->addr[flen[1]] = '\0';
	uint8_t bin[16];
	if (inet_pton(AF_INET, r->addr, bin) != 1 && inet_pton(AF_INET6, r->addr, bin) != 1)
		return EL_REPLY_EADDR;

	long port;
	if (flen[2] == 0 || flen[2] > 5 || !digits((const char *)line + start[2], flen[2], &port) ||
	    port > 65535)
		return EL_REPLY_EPORT;
	r->port = (unsigned)port;

	r->msg = line + pos + 1;
	r->msg_len = len - 1 - (pos + 1);
	return 0;
}

int el_reply_parse_error(const uint8_t *line, size_t len, unsigned long *limit)
{
	static const char busy[] = "! busy", too_long[] = "! line-too-long ";
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len == sizeof(busy) - 1 && memcmp(line, busy, len) == 0)
		return EL_REPLY_BUSY;
	size_t prefix = sizeof(too_long) - 1;
	long n;
	if (len > prefix && len - prefix <= 7 && memcmp(line, too_long, prefix) == 0 &&
	    digits((const char *)line + prefix, len - prefix, &n)) {
		*limit = (unsigned long)n;
		return EL_REPLY_LINE_TOO_LONG;
	}
	return EL_REPLY_ESHAPE;
}

const char *el_reply_strerror(int code)
{
	switch (code) {
	case 0:
		return "ok";
	case EL_REPLY_ESHAPE:
		return "not a reply line: expected \"[TIME] [ADDR] [PORT] [MSG]\"";
	case EL_REPLY_ETIME:
		return "bad TIME: expected RFC 3339 UTC with microseconds";
	case EL_REPLY_EADDR:
		return "bad ADDR: expected an IPv4 or IPv6 address";
	case EL_REPLY_EPORT:
		return "bad PORT: expected a decimal 0..65535";
	case EL_REPLY_ESERVER:
		return "error line from the server";
	default:
		return "unknown reply error";
	}
}
