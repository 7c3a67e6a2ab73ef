/* echolab-load merge: summaries of load instances (echolab-load --json,
 * one per segment or machine) read back and summed exactly: counts and
 * error kinds added, the moments combined with the parallel formula, and
 * percentiles taken from the summed histogram buckets, never from
 * averaged percentiles. */
#ifndef EL_MERGE_H
#define EL_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "load.h"
#include "stats.h"

/* What a summary holds that a merge adds up. */
struct el_load_summary {
	long conns, reached;
	uint64_t messages;
	uint64_t errors[EL_LOAD_NERRORS];
	double window_s;   /* the longest of the merged windows */
	double msgs_per_s; /* the sum: the instances ran side by side */
	int files, interrupted; /* summaries merged, and how many of them were cut short */
	double first_start_unix, last_start_unix; /* their windows' starts (0: unknown) */
	int invalid;       /* inputs that said "valid": false */
	char reason[128];  /* the first such input's first reason, with its file */
	struct el_hist hist;
};

/* An empty summary, to merge into. */
void el_load_summary_init(struct el_load_summary *s);

/* Reads an echolab-load --json file. Returns 0, or -1 with a one-line
 * reason in err (a file that is not such a summary, or one whose
 * histogram has another layout, is refused, never guessed at). */
int el_load_summary_read(const char *path, struct el_load_summary *s, char *err, size_t errlen);

/* Adds b into a. */
void el_load_summary_merge(struct el_load_summary *a, const struct el_load_summary *b);

/* echolab-load merge's command line: [--json OUT] [--percentiles L] FILE...
 * Prints the merged figures; returns the exit status. */
int el_load_merge_main(int argc, char **argv);

#endif
