/* echolab-bench's table of modes (mode.h), from its rows in modes.def:
 * a new mode is its file, ending in its row (const struct bench_mode
 * bench_mode_NAME), and one row there. */
#include <stdio.h>

#include "mode.h"

#define MODE(name, file) extern const struct bench_mode bench_mode_##name;
#include "modes.def"
#undef MODE

#define MODE(name, file) &bench_mode_##name,
const struct bench_mode *const bench_modes[] = {
#include "modes.def"
};
#undef MODE

const size_t bench_nmodes = sizeof(bench_modes) / sizeof(bench_modes[0]);

const char *bench_mode_title(const struct bench_mode *m, char *buf, size_t len)
{
	if (!m->name)
		snprintf(buf, len, "the experiment");
	else
		snprintf(buf, len, "--%s", m->name);
	return buf;
}
