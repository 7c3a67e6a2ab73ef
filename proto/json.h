/* JSON text for the programs' --json outputs. */
#ifndef EL_JSON_H
#define EL_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Writes len bytes of s as one JSON string, quotes included: '"', '\' and
 * control bytes escaped, valid UTF-8 kept as it is, and any byte that is
 * not part of valid UTF-8 written as \u00XX (its Latin-1 reading), so the
 * output is always valid JSON whatever the bytes. */
void el_json_string(FILE *f, const void *s, size_t len);

/* The same for a NUL-terminated string; NULL writes "". */
void el_json_cstring(FILE *f, const char *s);

#endif
