#include "traits.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct {
	enum el_trait trait;
	const char *name;
} traits[] = {
	{EL_TRAIT_SEQUENTIAL, "sequential"},
	{EL_TRAIT_PROCESS_PER_CONNECTION, "process-per-connection"},
	{EL_TRAIT_THREAD_PER_CONNECTION, "thread-per-connection"},
	{EL_TRAIT_PROCESS_POOL, "process-pool"},
	{EL_TRAIT_THREAD_POOL, "thread-pool"},
	{EL_TRAIT_EVENT_DRIVEN, "event-driven"},
	{EL_TRAIT_SINGLE_LOOP, "single-loop"},
	{EL_TRAIT_LOOP_PER_CPU, "loop-per-cpu"},
};
#define NTRAITS (sizeof(traits) / sizeof(traits[0]))

const char *el_trait_name(enum el_trait t)
{
	for (size_t i = 0; i < NTRAITS; i++)
		if (traits[i].trait == t)
			return traits[i].name;
	return "?";
}

int el_traits_format(unsigned mask, const char *sep, char *buf, size_t len)
{
	int n = 0;
	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < NTRAITS; i++) {
		if (!(mask & traits[i].trait))
			continue;
		size_t at = (size_t)n < len ? (size_t)n : len;
		n += snprintf(buf + at, len - at, "%s%s", n ? sep : "", traits[i].name);
	}
	return n;
}

int el_traits_parse(const char *text, unsigned *mask, char *bad, size_t badlen)
{
	*mask = 0;
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, ",");
		size_t i = 0;
		while (i < NTRAITS && !(strlen(traits[i].name) == len && strncmp(traits[i].name, p, len) == 0))
			i++;
		if (i == NTRAITS) {
			snprintf(bad, badlen, "%.*s", (int)len, p);
			return -EINVAL;
		}
		*mask |= traits[i].trait;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* One line "NAME<TAB>TRAITS" into m. Returns 0, or -EINVAL with why. */
static int parse_line(char *line, struct el_model_info *m, char *why, size_t len)
{
	char *tab = strchr(line, '\t');
	if (tab)
		*tab++ = '\0';
	size_t n = strlen(line);
	if (n == 0 || n >= sizeof(m->name) || strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n) {
		snprintf(why, len, "'%.40s' is not a model's name", line);
		return -EINVAL;
	}
	char bad[64];
	if (el_traits_parse(tab ? tab : "", &m->traits, bad, sizeof(bad)) < 0) {
		snprintf(why, len, "%s has a trait this program does not know: '%s'", line, bad);
		return -EINVAL;
	}
	memcpy(m->name, line, n + 1);
	return 0;
}

int el_models_list(const char *server, struct el_model_info *out, int max, char *err, size_t errlen)
{
	/* Said here, not as the child's exit status 127: posix_spawn does
	 * not report a failed exec everywhere (under valgrind it does not). */
	if (access(server, X_OK) < 0) {
		snprintf(err, errlen, "%s: %s", server, strerror(errno));
		return -1;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "%s --list-models: %s", server, strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	char *argv[] = {(char *)server, "--list-models", NULL};
	extern char **environ;
	pid_t pid;
	int rc = posix_spawn(&pid, server, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		snprintf(err, errlen, "%s --list-models: %s", server, strerror(rc));
		return -1;
	}
	FILE *f = fdopen(p[0], "r");
	char line[256], why[160] = "";
	int n = 0;
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || why[0])
			continue;
		if (n == max) {
			snprintf(why, sizeof(why), "more than %d models", max);
			continue;
		}
		if (parse_line(line, &out[n], why, sizeof(why)) == 0)
			n++;
	}
	if (f)
		fclose(f);
	else
		close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "%s --list-models: %s %d", server,
			 WIFEXITED(status) ? "exit status" : "killed by signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return -1;
	}
	if (why[0]) {
		snprintf(err, errlen, "%s --list-models: %s", server, why);
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "%s --list-models printed no model", server);
		return -1;
	}
	return n;
}

const struct el_model_info *el_models_find(const struct el_model_info *list, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(list[i].name, name) == 0)
			return &list[i];
	return NULL;
}
