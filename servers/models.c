#include "models.h"

const struct el_model el_models[] = {
	{.name = "iterative", .traits = "sequential", .run = el_model_iterative_run},
	{.name = "fork", .traits = "process-per-connection", .run = el_model_fork_run},
	{.name = "thread", .traits = "thread-per-connection", .run = el_model_thread_run},
	{.name = "prefork", .traits = "process-pool", .run = el_model_prefork_run},
	{.name = "threadpool", .traits = "thread-pool,event-driven", .run = el_model_threadpool_run},
	{.name = "poll", .traits = "event-driven,single-loop", .run = el_model_poll_run},
	{.name = "epoll", .traits = "event-driven,loop-per-cpu", .run = el_model_epoll_run},
	{.name = "uring", .traits = "event-driven,loop-per-cpu", .run = el_model_uring_run,
	 .probe = el_model_uring_probe},
	{.name = NULL},
};
