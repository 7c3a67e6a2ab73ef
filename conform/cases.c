/* The table of cases (conform.h): one row of cases/cases.def each, run by
 * el_case_<function> in a file of conform/cases/. Adding a case is writing its
 * function and its row. */
#include "cases.h"

/* The sections of docs/protocol.md and docs/interface.md a case checks. */
#define S_MESSAGES "Client to server: messages"
#define S_ANNOTATED "Server to client: annotated mode (the default)"
#define S_ERRORS "Server to client: errors"
#define S_RAW "Raw mode (RFC 862)"
#define S_CLOSING "Closing"
#define S_TRANSPORT "Transport"
#define S_INTERFACE "docs/interface.md: echolab-server"
#define S_LOG "The server's log"
#define A EL_CONF_ANNOTATED

const struct el_conf_case el_conf_cases[] = {
#define CASE(fn, id, title, section, needs, ...) {id, title, section, needs, .run = el_case_##fn, __VA_ARGS__},
#include "cases/cases.def"
#undef CASE
};
const size_t el_conf_ncases = sizeof(el_conf_cases) / sizeof(el_conf_cases[0]);
