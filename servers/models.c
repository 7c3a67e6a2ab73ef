#include "models.h"

const struct el_model el_models[] = {
	{.name = "iterative", .run = el_model_iterative_run},
	{.name = "fork", .run = el_model_fork_run},
	{.name = "thread", .run = el_model_thread_run},
	{.name = "prefork", .run = el_model_prefork_run},
	{.name = "threadpool", .run = el_model_threadpool_run},
	{.name = "poll", .run = el_model_poll_run},
	{.name = "epoll", .run = el_model_epoll_run},
	{.name = "uring", .run = el_model_uring_run, .probe = el_model_uring_probe},
	{.name = NULL},
};
