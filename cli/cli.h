/* What every program's command line needs, once: the usage error's one
 * line and exit status, whole-string numbers within bounds, and command
 * lines written back so that a shell reads them as they were given. */
#ifndef EL_CLI_H
#define EL_CLI_H

#include <stdbool.h>
#include <stddef.h>

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

#endif
