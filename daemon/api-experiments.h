#pragma once
/* Named experiments: GET /api/v1/experiments lists those of the config and those created through the API;
 * POST /api/v1/experiments {"name", "from", "to"} creates one (stored in SQLite, experiments.h). */

#include "api.h"

int api_route_experiments(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);

/* Finds experiment name, the config's first, then the stored ones. Returns 1 and its window, 0 when
 * unknown, or -errno from the query. */
int api_experiment_find(Query *q, const ApiRequest *req, const char *name, int64_t *ret_from_ms,
                        int64_t *ret_to_ms);
