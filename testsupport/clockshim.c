/* An LD_PRELOAD library for tests only: the program's CLOCK_REALTIME runs
 * ECHOLAB_CLOCK_SKEW_US ahead of the kernel's, as a clock read on one CPU
 * may disagree with a stamp the kernel took on another. Only
 * clock_gettime(CLOCK_REALTIME) moves; every other clock is the kernel's. */
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static long long skew_ns;

/* Read once, before the program's main (or at the first call, if another
 * library's constructor asks the time first): the calls only add. */
__attribute__((constructor)) static void clockshim_init(void)
{
	real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	const char *skew = getenv("ECHOLAB_CLOCK_SKEW_US");
	skew_ns = skew ? strtoll(skew, NULL, 10) * 1000 : 0;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	if (!real_clock_gettime)
		clockshim_init();
	int rc = real_clock_gettime(id, ts);
	if (rc == 0 && id == CLOCK_REALTIME && skew_ns) {
		long long ns = (long long)ts->tv_nsec + skew_ns;
		ts->tv_sec += (time_t)(ns / 1000000000);
		ts->tv_nsec = (long)(ns % 1000000000);
		if (ts->tv_nsec < 0) {
			ts->tv_nsec += 1000000000;
			ts->tv_sec--;
		}
	}
	return rc;
}
