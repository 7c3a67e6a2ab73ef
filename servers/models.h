/* One el_model per file model_NAME.c; models.c lists them. */
#ifndef EL_MODELS_H
#define EL_MODELS_H

#include <errno.h>
#include <stddef.h>

#include "server.h"
#include "traits.h"

int el_model_iterative_run(struct el_srv *srv);
int el_model_fork_run(struct el_srv *srv);
int el_model_thread_run(struct el_srv *srv);
int el_model_prefork_run(struct el_srv *srv);
int el_model_threadpool_run(struct el_srv *srv);
int el_model_poll_run(struct el_srv *srv);
int el_model_epoll_run(struct el_srv *srv);
int el_model_uring_run(struct el_srv *srv);
int el_model_uring_probe(char *why, size_t len);

#endif
