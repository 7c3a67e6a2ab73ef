/* What every program's command line needs, once: the usage error's one
 * line and exit status, and whole-string numbers within bounds. */
#ifndef EL_CLI_H
#define EL_CLI_H

#include <stdbool.h>

/* "PROG: <message> (see --help)" on stderr. Returns 2, the exit status of
 * bad usage. */
__attribute__((format(printf, 2, 3))) int el_cli_usage(const char *prog, const char *fmt, ...);

/* Parses all of s as a finite number in [lo, hi] into out. Returns false
 * (out untouched) for anything else: empty, trailing text, out of range,
 * inf, nan. */
bool el_cli_parse_num(const char *s, double lo, double hi, double *out);

/* The same for a whole decimal integer in [lo, hi]. */
bool el_cli_parse_long(const char *s, long lo, long hi, long *out);

#endif
