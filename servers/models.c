/* The model table (models.h): a row of models.def each. */
#include "models.h"

const struct el_model el_models[] = {
#define MODEL(model, model_traits, ...) \
	{.name = #model, .traits = (model_traits), .run = el_model_##model##_run, __VA_ARGS__},
#include "models.def"
#undef MODEL
	{.name = NULL},
};
