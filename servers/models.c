#include "models.h"

const struct el_model el_models[] = {
	{"iterative", el_model_iterative_run},
	{"fork", el_model_fork_run},
	{"thread", el_model_thread_run},
	{"prefork", el_model_prefork_run},
	{"threadpool", el_model_threadpool_run},
	{"poll", el_model_poll_run},
	{"epoll", el_model_epoll_run},
	{NULL, NULL},
};
