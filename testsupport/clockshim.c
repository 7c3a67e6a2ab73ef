/* An LD_PRELOAD library for tests only: the program's CLOCK_REALTIME runs
 * ECHOLAB_CLOCK_SKEW_US ahead of the kernel's, as a clock read on one CPU
 * may disagree with a stamp the kernel took on another. Only
 * clock_gettime(CLOCK_REALTIME) moves; every other clock is the kernel's. */
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

int clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	if (!real)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	int rc = real(id, ts);
	const char *skew = getenv("ECHOLAB_CLOCK_SKEW_US");
	if (rc == 0 && id == CLOCK_REALTIME && skew) {
		long long ns = (long long)ts->tv_nsec + strtoll(skew, NULL, 10) * 1000;
		ts->tv_sec += (time_t)(ns / 1000000000);
		ts->tv_nsec = (long)(ns % 1000000000);
		if (ts->tv_nsec < 0) {
			ts->tv_nsec += 1000000000;
			ts->tv_sec--;
		}
	}
	return rc;
}
