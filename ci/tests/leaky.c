/* A Criterion test that leaks on purpose, in its forked worker: the
 * valgrind wrapper must fail it (docs/style.md). Not a test of its own. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

Test(selftest, leaks_when_asked)
{
	char *p = malloc(64);
	cr_assert_not_null(p);
	memset(p, 1, 64);
	const char *plant = getenv("ECHOLAB_PLANT_LEAK");
	if (plant && *plant)
		p = NULL; /* the only pointer is gone: a definite leak */
	free(p);
}
