/* What every program's command line needs, once: the usage error's one
 * line and exit status, whole-string numbers within bounds, and command
 * lines written back so that a shell reads them as they were given; and
 * what its process needs (process.c): room for fds, and its CPUs. */
#ifndef EL_CLI_H
#define EL_CLI_H

#include <stdbool.h>
#include <stddef.h>

/* Every program's options are long only (getopt_long with an empty
 * optstring), and their ids an enum of the program's own starting here:
 * O_<OPTION> for --option, in the order of its option table. */
#define EL_CLI_OPT_FIRST 256

/* "PROG: <message> (see --help)" on stderr. Returns 2, the exit status of
 * bad usage. */
__attribute__((format(printf, 2, 3))) int el_cli_usage(const char *prog, const char *fmt, ...);

/* Parses all of s as a finite number in [lo, hi] into out. Returns false
 * (out untouched) for anything else: empty, trailing text, out of range,
 * inf, nan. */
bool el_cli_parse_num(const char *s, double lo, double hi, double *out);

/* The same for a whole decimal integer in [lo, hi]. */
bool el_cli_parse_long(const char *s, long lo, long hi, long *out);

/* Appends word to the string in out (len bytes in all) as one shell word:
 * as it is when it holds only characters no shell treats specially
 * (letters, digits, and _@%+=:,./-), else in single quotes, a ' in it
 * written '\'' (\' where no quoted run is open: 'it'\''s', \''a b'\');
 * the empty word as ''. Returns 0, or -ENAMETOOLONG (out unchanged) when
 * it may not fit (3 bytes a byte of word, and 3). */
int el_cli_shell_word(char *out, size_t len, const char *word);

/* Writes the words of argv (argc of them) into out, quoted as above and
 * separated by spaces: a command line to paste into a shell. Returns 0,
 * or -ENAMETOOLONG (out holds the words that fit, whole). */
int el_cli_shell_line(char *out, size_t len, int argc, char *const argv[]);

/* Parses HOST:PORT (an IPv6 address in brackets: [::1]:7000) into host
 * (without the brackets; len bytes) and *port (1 to 65535). Returns
 * false (both untouched) when it is not one. */
bool el_cli_parse_hostport(const char *s, char *host, size_t len, unsigned *port);

/* Raises the soft RLIMIT_NOFILE to want (0: to the hard limit), and the
 * hard limit with it when want is past it and the process may (root);
 * else as far as the hard limit. Returns the soft limit now in force, or
 * -1 when there is none or the kernel does not say. */
long el_cli_raise_nofile(long want);

/* The CPUs this process may run on (its affinity mask, as taskset set
 * it), in increasing order, at most max of them. Returns how many, or 0
 * when the kernel does not say. A thread pinned to "CPU i" must be pinned
 * to cpus[i % n]: pinning to CPU i itself left the mask taskset gave. */
int el_cli_allowed_cpus(int *cpus, int max);

#endif
