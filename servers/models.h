/* One el_model per file model_NAME.c; models.def lists them. */
#ifndef EL_MODELS_H
#define EL_MODELS_H

#include <errno.h>
#include <stddef.h>

#include "server.h"
#include "traits.h"

/* Each model's run, a row of models.def each. */
#define MODEL(name, ...) int el_model_##name##_run(struct el_srv *srv);
#include "models.def"
#undef MODEL
/* uring's probe: why io_uring cannot run here (0: it can). */
int el_model_uring_probe(char *why, size_t len);

#endif
