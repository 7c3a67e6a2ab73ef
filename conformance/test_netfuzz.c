/* The network fuzzer (netfuzz.h) against every model: thousands of
 * connections of random streams, each reply checked against the protocol;
 * the server must survive, stop cleanly, and come back to its baseline
 * processes, threads, fds and RSS.
 *
 *   ECHOLAB_NETFUZZ_SEED     the streams' seed (default 20261125)
 *   ECHOLAB_NETFUZZ_SECONDS  fuzzing per model after a 2 s warm-up (6)
 *   ECHOLAB_NETFUZZ_REPORT   a file to append one summary line per model
 *   ECHOLAB_SERVER_PRELOAD   LD_PRELOAD for the server (the fault shim,
 *                            configured by ECHOLAB_FAULTS, which it inherits)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "netfuzz.h"

static double env_number(const char *name, double fallback)
{
	const char *v = getenv(name);
	return v && *v ? strtod(v, NULL) : fallback;
}

MODEL_TEST(netfuzz_replies_match_the_protocol_and_the_server_returns_to_its_baseline,
	   .timeout = 600)
{
	th_raise_nofile();
	struct el_nf_session_opts o;
	el_nf_session_defaults(&o);
	o.server = getenv("ECHOLAB_SERVER");
	cr_assert_not_null(o.server, "ECHOLAB_SERVER is not set (run the suite through meson test)");
	o.model = param->name;
	o.preload = getenv("ECHOLAB_SERVER_PRELOAD");
	if (o.preload && !*o.preload)
		o.preload = NULL;
	o.fuzz.seed = (uint64_t)env_number("ECHOLAB_NETFUZZ_SEED", 20261125);
	o.fuzz.duration_s = env_number("ECHOLAB_NETFUZZ_SECONDS", 6);
	o.fuzz.parallel = th_model_is_sequential(param) ? 8 : 64;
	o.fuzz.stall_ms *= th_slow_factor();
	o.settle_ms *= th_slow_factor();
	/* ASan keeps freed memory in its quarantine and never gives it back,
	 * so RSS cannot return to a baseline; LeakSanitizer checks the server
	 * at its exit instead, and a leak fails the clean stop. */
	o.check_rss = !getenv("ECHOLAB_UNDER_ASAN");

	struct el_nf_session s;
	int rc = el_nf_session(&o, &s);
	if (rc == -EOPNOTSUPP)
		cr_skip_test("%s", s.why);
	cr_assert_eq(rc, 0, "%s: %s", param->name, s.why);

	const struct el_nf_result *r = &s.run;
	const char *report = getenv("ECHOLAB_NETFUZZ_REPORT");
	FILE *f = report && *report ? fopen(report, "a") : NULL;
	if (f) {
		fprintf(f,
			"model=%s faults=%s seed=%llu seconds=%.0f ok=%d connections=%ld fin=%ld fin_partial=%ld "
			"reset=%ld unread=%ld messages=%ld replies=%ld too_long=%ld sent=%llu "
			"received=%llu baseline=%ld/%ld/%ld/%ld after=%ld/%ld/%ld/%ld\n",
			param->name, o.preload ? "yes" : "no", (unsigned long long)o.fuzz.seed,
			o.fuzz.duration_s, s.ok,
			r->connections, r->fin, r->fin_partial, r->reset, r->unread, r->messages,
			r->replies, r->too_long, (unsigned long long)r->bytes_sent,
			(unsigned long long)r->bytes_received, s.baseline.procs, s.baseline.threads,
			s.baseline.fds, s.baseline.rss_kib, s.after.procs, s.after.threads, s.after.fds,
			s.after.rss_kib);
		fclose(f);
	}
	cr_assert(s.ok, "%s (seed %llu): %s", param->name, (unsigned long long)o.fuzz.seed, s.why);
	/* A run that checked next to nothing proves nothing. */
	cr_assert_gt(r->connections, 100, "%s: only %ld connections in %.0f s", param->name,
		     r->connections, o.fuzz.duration_s);
	cr_assert_gt(r->replies, 1000, "%s: only %ld replies checked", param->name, r->replies);
	cr_assert(r->fin > 0 && r->fin_partial > 0 && r->reset > 0 && r->unread > 0,
		  "%s: not every ending ran: %ld fin, %ld partial, %ld reset, %ld unread",
		  param->name, r->fin, r->fin_partial, r->reset, r->unread);
}
