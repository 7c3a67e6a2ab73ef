#include "models.h"

const struct el_model el_models[] = {
	{"iterative", el_model_iterative_run},
	{NULL, NULL},
};
