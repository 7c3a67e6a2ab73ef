#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

int main(int argc, char **argv)
{
	struct el_srv_config cfg;
	int rc = el_srv_parse_args(argc, argv, &cfg);
	if (rc < 0)
		return 2;
	if (rc > 0)
		return 0;

	const struct el_model *model = el_srv_find_model(cfg.model);
	char why[256];
	rc = model->probe ? model->probe(why, sizeof(why)) : 0;
	if (rc < 0) {
		/* Only a refusal (a kernel without it, or one that forbids it)
		 * makes a model unavailable, which tests skip; any other error
		 * is a failure. */
		bool refused = rc == -ENOSYS || rc == -EPERM;
		fprintf(stderr, "echolab-server: model %s %s: %s\n", model->name,
			refused ? "unavailable" : "cannot start", why);
		return 1;
	}
	struct el_srv srv;
	if (el_srv_start(&srv, &cfg) < 0)
		return 1;
	rc = cfg.processes > 1 ? el_srv_run_processes(&srv, model) : model->run(&srv);
	if (el_srv_stopping) {
		el_srv_logf(&srv, "stop: %s from pid %d", strsignal(el_srv_stopping),
			    (int)el_srv_stop_sender);
		/* A stop from anyone but the process that started the server
		 * (a shell's kill, a stray signal) is worth a line of its own. */
		if (el_srv_stop_sender != 0 && el_srv_stop_sender != getppid())
			fprintf(stderr, "echolab-server: stopping on %s from pid %d\n",
				strsignal(el_srv_stopping), (int)el_srv_stop_sender);
	}
	el_srv_finish(&srv);
	return rc;
}
