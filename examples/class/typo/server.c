/* A submission that does not compile: a semicolon missing, as the night
 * before the deadline leaves one. echolab-conform's verdict: build-failed,
 * with the compiler's words kept in OUT/typo/build.log. */
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0])
		return 2;
	}
	return 0;
}
