#pragma once
/* Capacity planning: the per-participant curve of a metric (/curves, JSON or CSV) and the per-stream-type
 * model (/model), per agent and limits epoch, over a window or a named experiment. The argument parsing
 * and the JSON pieces here are shared with the report (api-report.h). */

#include "api.h"
#include "capacity.h"

#define API_CURVE_AGENTS_MAX 32 /* agents side by side in one curve query */

int api_route_curves(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);
int api_route_model(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);

/* The window, experiment, threshold and mix arguments shared by the planning routes. */
typedef struct ApiPlanArgs {
        int64_t from_ms, to_ms;
        const char *experiment; /* NULL: none asked for */
        double threshold;       /* NAN: per metric and config */
        bool has_mix;
        double mix[FIT_PARAMS_MAX - 1];
} ApiPlanArgs;

/* Parses from=, to=, experiment= (the config's or a stored one, see api-experiments.h), threshold= and
 * mix=; answers 400/404 itself and returns < 0. */
int api_plan_args_parse(Query *q, const ApiRequest *req, ApiPlanArgs *ret, ApiResponse *resp);
/* The thresholds for agent id: its [agent] section over the site's [capacity] over the defaults. */
CapacityThresholds api_plan_thresholds(const ApiRequest *req, const char *id);
/* The agents named by agent= (in the order given), or every agent when none is named, into a new array
 * (*ret, free() it) of *ret_n. Answers the errors itself and returns < 0. */
int api_plan_agents(Query *q, const ApiRequest *req, QueryAgent **ret, size_t *ret_n, ApiResponse *resp);
/* format=: 0 json (the default), 1 csv, 2 html (only when html_ok). Answers 400 itself and returns < 0. */
int api_plan_format(const ApiRequest *req, bool html_ok, int *ret, ApiResponse *resp);

/* JSON pieces (new references, NULL when out of memory): the window asked for and, for one agent (w not
 * NULL), how it was answered (exact, or widened to whole hours where raw samples expired), the limits of
 * an epoch, a capacity with its interval (steal: the mean CPU steal share that lowered the threshold, NAN:
 * none, or not a CPU metric), a model epoch with its coefficients. */
json_t *api_window_json(const ApiPlanArgs *p, const QueryWindow *w);
json_t *api_limits_json(const QueryEpoch *e);
json_t *api_capacity_json(double threshold, double steal, const FitCapacity *c, const FitResult *f);
json_t *api_model_epoch_json(const CapacityModel *e);
