/* HdrHistogram's interval log (echolab-load --hlog): the "V2" text log of
 * histograms, one line per interval, each the base64 of a compressed V2
 * encoding, which HdrHistogram's own tools (HistogramLogProcessor, the
 * plotters) read and merge.
 *
 * echolab's histogram (stats.h) has HdrHistogram's bucket layout for two
 * significant digits (every value below 256 exact, then 128 sub-buckets
 * per power of two), so its counts are written index for index. The
 * "compression" is zlib's stored mode: a valid zlib stream every inflater
 * reads, at no cost in code or dependencies, a few bytes larger. */
#ifndef EL_HLOG_H
#define EL_HLOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stats.h"

/* The compressed V2 encoding of h (values in microseconds), base64, into
 * out. Returns its length, or -ENOSPC when out is too small. */
long el_hlog_encode(const struct el_hist *h, char *out, size_t len);

struct el_hlog {
	FILE *f;
	double base_unix; /* intervals' start times are relative to it */
};

/* Creates path and writes the log's header. Returns 0 or -errno. */
int el_hlog_open(struct el_hlog *log, const char *path, double base_unix);

/* One interval: it started start_unix, lasted len_s, recorded h. */
int el_hlog_interval(struct el_hlog *log, double start_unix, double len_s, const struct el_hist *h);

/* Returns 0, or -errno when anything was not written. */
int el_hlog_close(struct el_hlog *log);

#endif
