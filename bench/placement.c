/* Where a cell's server and load run: the paired placement's rule (which
 * servers get the load's loops pinned beside them) and the words the
 * report says it in, in one place. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

/* Whether the paired placement pins the load for this server: yes for
 * the models with event loops and pools, and for a server by command (its
 * shape unknown); no for a thread or a process per connection, which has
 * no loop per CPU to pair with: there, 5 repeats at 30 and 100 clients
 * fell into two groups in 2 of 2 paired grids (138k-315k msgs/s) and in
 * 1 of 2 cells free (decisions 47). */
bool bench_paired(const struct bench_cfg *cfg, const char *model)
{
	return cfg->pair && !bench_has_trait(cfg, model, EL_TRAIT_THREAD_PER_CONNECTION | EL_TRAIT_PROCESS_PER_CONNECTION);
}

/* Where the server and the load run, for the report: CPUs shared or
 * pinned (--cpus filled placement already), one host or --lan's two. */
void bench_describe_placement(struct bench_cfg *cfg, int delay_ms)
{
	/* --cpus places both itself; a target's server is not beside us. */
	if (cfg->pinned || cfg->target_host)
		cfg->pair = false;
	if (!cfg->pinned && cfg->pair)
		snprintf(cfg->placement, sizeof(cfg->placement),
			 "paired (server and load on every CPU; the load's event loop i pinned to CPU i, beside "
			 "the server loop that takes the connections arriving there; for the models with a "
			 "thread or a process per connection, where the scheduler puts them; --no-pin: "
			 "the scheduler's placement for every server)");
	else if (!cfg->pinned)
		snprintf(cfg->placement, sizeof(cfg->placement),
			 "shared (server and load on every CPU, where the scheduler puts them: --no-pin)");
	if (!cfg->lan)
		return;
	size_t n = strlen(cfg->placement);
	char delay[96] = "no added delay";
	if (delay_ms > 0)
		snprintf(delay, sizeof(delay), "%d ms one-way delay from load to server by %s", delay_ms,
			 cfg->lan->mechanism);
	snprintf(cfg->placement + n, sizeof(cfg->placement) - n,
		 "; over an emulated LAN: the server in one network namespace (" EL_LAN_SERVER_ADDR
		 "), the load in another (" EL_LAN_CLIENT_ADDR "), a veth pair between them, %s",
		 delay);
}
