/* What a server model is, as the model table declares it and
 * `echolab-server --list-models` prints it ("NAME<TAB>trait,trait"): a
 * value the compiler knows in code, and one parser that refuses a word it
 * does not know. The tests, the bench and the network fuzzer ask for a
 * trait, never for a model's name; a misspelt trait is a compile error
 * there, and a misspelt one in the text a loud error here. */
#ifndef EL_TRAITS_H
#define EL_TRAITS_H

#include <stdbool.h>
#include <stddef.h>

enum el_trait {
	EL_TRAIT_SEQUENTIAL = 1u << 0,             /* one connection at a time */
	EL_TRAIT_PROCESS_PER_CONNECTION = 1u << 1, /* a process per connection */
	EL_TRAIT_THREAD_PER_CONNECTION = 1u << 2,  /* a thread per connection */
	EL_TRAIT_PROCESS_POOL = 1u << 3,           /* processes started before the clients */
	EL_TRAIT_THREAD_POOL = 1u << 4,            /* threads started before the clients */
	EL_TRAIT_EVENT_DRIVEN = 1u << 5,           /* non-blocking turns in an event loop */
	EL_TRAIT_SINGLE_LOOP = 1u << 6,            /* one loop for every connection */
	EL_TRAIT_LOOP_PER_CPU = 1u << 7,           /* a loop per CPU (--workers) */
};

/* A trait's word in --list-models ("process-per-connection"). */
const char *el_trait_name(enum el_trait t);

/* Writes the traits of mask as words joined by sep ("," in
 * --list-models), in the order above. Returns the length, as snprintf
 * does. */
int el_traits_format(unsigned mask, const char *sep, char *buf, size_t len);

/* Parses "word,word" (empty: no trait) into *mask. Returns 0, or -EINVAL
 * with the first word it does not know copied into bad. */
int el_traits_parse(const char *text, unsigned *mask, char *bad, size_t badlen);

/* One model as --list-models prints it. */
struct el_model_info {
	char name[32];
	unsigned traits;
};

/* Runs `server --list-models` (no shell) and reads up to max models into
 * out. Returns how many, or -1 with a one-line reason in err: the server
 * did not run, exited non-zero, printed nothing, or printed a trait or a
 * line this parser does not know. */
int el_models_list(const char *server, struct el_model_info *out, int max, char *err, size_t errlen);

/* The model of that name in list, or NULL. */
const struct el_model_info *el_models_find(const struct el_model_info *list, int n, const char *name);

#endif
