/* What every program's process needs, once: room for its fds, and the
 * CPUs it may use, as taskset or a cgroup gave them. */
#include <sched.h>
#include <sys/resource.h>

#include "cli.h"

long el_cli_raise_nofile(long want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	rlim_t target = want > 0 ? (rlim_t)want : rl.rlim_max;
	if (rl.rlim_cur < target) {
		struct rlimit up = {.rlim_cur = target, .rlim_max = rl.rlim_max < target ? target : rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
			rl = up;
		} else if (rl.rlim_cur < rl.rlim_max) {
			/* Not allowed past the hard limit: up to it. */
			up = (struct rlimit){.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
			if (setrlimit(RLIMIT_NOFILE, &up) == 0)
				rl = up;
		}
	}
	return rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
}

int el_cli_allowed_cpus(int *cpus, int max)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 0;
	int n = 0;
	for (int cpu = 0; cpu < CPU_SETSIZE && n < max; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpus[n++] = cpu;
	return n;
}
