#include "models.h"

const struct el_model el_models[] = {
	{.name = "iterative", .traits = EL_TRAIT_SEQUENTIAL, .run = el_model_iterative_run},
	{.name = "fork", .traits = EL_TRAIT_PROCESS_PER_CONNECTION, .run = el_model_fork_run},
	{.name = "thread", .traits = EL_TRAIT_THREAD_PER_CONNECTION, .run = el_model_thread_run},
	{.name = "prefork", .traits = EL_TRAIT_PROCESS_POOL, .run = el_model_prefork_run},
	{.name = "threadpool", .traits = EL_TRAIT_THREAD_POOL | EL_TRAIT_EVENT_DRIVEN, .run = el_model_threadpool_run},
	{.name = "poll", .traits = EL_TRAIT_EVENT_DRIVEN | EL_TRAIT_SINGLE_LOOP, .run = el_model_poll_run},
	{.name = "epoll", .traits = EL_TRAIT_EVENT_DRIVEN | EL_TRAIT_LOOP_PER_CPU, .run = el_model_epoll_run},
	{.name = "uring", .traits = EL_TRAIT_EVENT_DRIVEN | EL_TRAIT_LOOP_PER_CPU, .run = el_model_uring_run,
	 .probe = el_model_uring_probe},
	{.name = NULL},
};
