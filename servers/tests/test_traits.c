/* The models' traits: one value the compiler knows, one parser that
 * refuses a word it does not know, and the server's --list-models read
 * back into the model table it was printed from. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models.h"
#include "traits.h"

Test(traits, words_round_trip)
{
	unsigned all = 0;
	for (unsigned t = 1; t <= EL_TRAIT_LOOP_PER_CPU; t <<= 1) {
		char buf[64], bad[64];
		unsigned back;
		cr_assert_neq(strcmp(el_trait_name((enum el_trait)t), "?"), 0, "trait %#x has no word", t);
		el_traits_format(t, ",", buf, sizeof(buf));
		cr_expect_eq(el_traits_parse(buf, &back, bad, sizeof(bad)), 0, "%s", buf);
		cr_expect_eq(back, t, "%s", buf);
		all |= t;
	}
	char buf[256], bad[64];
	unsigned back;
	el_traits_format(all, ",", buf, sizeof(buf));
	cr_expect_eq(el_traits_parse(buf, &back, bad, sizeof(bad)), 0);
	cr_expect_eq(back, all, "%s", buf);
	cr_expect_eq(el_traits_parse("", &back, bad, sizeof(bad)), 0);
	cr_expect_eq(back, 0u);
	/* Cut short: the length it needed, as snprintf. */
	char small[8];
	int n = el_traits_format(EL_TRAIT_EVENT_DRIVEN | EL_TRAIT_LOOP_PER_CPU, " ", small, sizeof(small));
	cr_expect_eq(n, (int)strlen("event-driven loop-per-cpu"));
	cr_expect_str_eq(small, "event-d");
}

/* A misspelt trait was a test skipped in silence: now it is an error
 * that names the word. */
Test(traits, a_word_nobody_knows_is_refused)
{
	const char *texts[] = {"sequentail", "event-driven,loop-per-core", "event-driven,", "Sequential", ",x"};
	const char *words[] = {"sequentail", "loop-per-core", NULL, "Sequential", ""};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char bad[64] = "";
		unsigned m;
		int rc = el_traits_parse(texts[i], &m, bad, sizeof(bad));
		if (!words[i]) {
			cr_expect_eq(rc, 0, "'%s': a trailing comma ends the list", texts[i]);
			continue;
		}
		cr_expect_eq(rc, -EINVAL, "'%s' was taken", texts[i]);
		cr_expect_str_eq(bad, words[i], "'%s'", texts[i]);
	}
}

/* The server prints its table; read back, it is the table. */
Test(traits, the_servers_list_is_its_table)
{
	struct el_model_info list[16];
	char err[256] = "";
	int n = el_models_list(getenv("ECHOLAB_SERVER"), list, 16, err, sizeof(err));
	cr_assert_gt(n, 0, "%s", err);
	int k = 0;
	for (const struct el_model *m = el_models; m->name; m++, k++) {
		cr_assert_lt(k, n, "%s is not listed", m->name);
		cr_expect_str_eq(list[k].name, m->name);
		cr_expect_eq(list[k].traits, m->traits, "%s: %#x listed, %#x in the table", m->name, list[k].traits,
			     m->traits);
		cr_expect_neq(m->traits, 0u, "%s has no trait", m->name);
	}
	cr_expect_eq(k, n, "the server listed %d models, the table has %d", n, k);
	cr_expect_not_null(el_models_find(list, n, "epoll"));
	cr_expect_null(el_models_find(list, n, "kqueue"));
}

/* A server whose list has a trait nobody knows, or that fails, or that
 * lists nothing: one line that says which, never a list without it. */
Test(traits, a_bad_list_is_one_line_naming_what)
{
	char dir[] = "/tmp/echolab-traits-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	static const struct {
		const char *script, *says;
	} cases[] = {
		{"printf 'a\\tsequential\\nb\\tsequentail\\n'", "b has a trait this program does not know: 'sequentail'"},
		{"printf 'A b\\tsequential\\n'", "'A b' is not a model's name"},
		{"exit 3", "--list-models: exit status 3"},
		{"true", "--list-models printed no model"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[128];
		snprintf(path, sizeof(path), "%s/server-%zu", dir, i);
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f);
		fprintf(f, "#!/bin/sh\n%s\n", cases[i].script);
		cr_assert_eq(fclose(f), 0);
		cr_assert_eq(chmod(path, 0755), 0);
		struct el_model_info list[4];
		char err[256] = "";
		cr_expect_eq(el_models_list(path, list, 4, err, sizeof(err)), -1, "%s", cases[i].script);
		cr_expect_not_null(strstr(err, cases[i].says), "%s: '%s'", cases[i].script, err);
		cr_expect_null(strchr(err, '\n'), "more than one line: %s", err);
		unlink(path);
	}
	struct el_model_info list[4];
	char err[256] = "";
	cr_expect_eq(el_models_list("/nonexistent/echolab-server", list, 4, err, sizeof(err)), -1);
	cr_expect_not_null(strstr(err, "No such file"), "%s", err);
	rmdir(dir);
}
