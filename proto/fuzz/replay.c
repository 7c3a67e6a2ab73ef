/* Replays a libFuzzer target's committed corpus as a Criterion test, so
 * the gcc build, valgrind and ASan run every seed through the target's
 * checks too (the target's assert()s abort the test on a violation).
 *
 *   ECHOLAB_CORPUS   the corpus directory */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

Test(fuzz, committed_corpus_passes_the_target)
{
	const char *dir = getenv("ECHOLAB_CORPUS");
	cr_assert_not_null(dir, "ECHOLAB_CORPUS is not set (run the suite through meson test)");
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "%s: cannot open", dir);
	long inputs = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		cr_assert_not_null(f, "%s: cannot open", path);
		uint8_t *buf = malloc(1 << 20);
		size_t n = fread(buf, 1, 1 << 20, f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
		free(buf);
		inputs++;
	}
	closedir(d);
	cr_assert_gt(inputs, 0, "%s: an empty corpus", dir);
	cr_log_info("%s: %ld inputs", dir, inputs);
}
