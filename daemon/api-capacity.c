/* Capacity planning (api-capacity.h): per-participant curves and the per-stream-type model, as JSON and
 * CSV, over a window or an experiment. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "api-agents.h"
#include "api-capacity.h"
#include "api-experiments.h"
#include "util.h"

int api_plan_args_parse(Query *q, const ApiRequest *req, ApiPlanArgs *ret, ApiResponse *resp)
{
        ApiPlanArgs p = { .threshold = NAN };
        const char *v;

        if (api_arg_time(req, "from", 0, &p.from_ms, resp) < 0 || api_arg_time(req, "to", req->now_ms, &p.to_ms, resp) < 0)
                return -EINVAL;
        v = api_arg_get(req, "experiment");
        if (v) {
                int r;

                if (api_arg_get(req, "from") || api_arg_get(req, "to"))
                        return api_failed(api_error(resp, 400, "give either experiment= or from=/to=, not both"));
                if (!id_is_valid(v))
                        return api_failed(api_error(resp, 400, "invalid experiment name"));
                r = api_experiment_find(q, req, v, &p.from_ms, &p.to_ms);
                if (r < 0)
                        return api_failed(api_db_error(resp, r));
                if (r == 0)
                        return api_failed(api_error(resp, 404, "unknown experiment '%s'", v));
                p.experiment = v; /* the request's own string: valid while it is answered */
        }
        if (p.from_ms > p.to_ms)
                return api_failed(api_error(resp, 400, "parameter 'from' is after 'to'"));
        v = api_arg_get(req, "threshold");
        if (v && (safe_atod(v, &p.threshold) < 0 || !isfinite(p.threshold) || p.threshold <= 0))
                return api_failed(api_error(resp, 400, "parameter 'threshold' must be a positive number"));
        v = api_arg_get(req, "mix");
        if (v) {
                if (fit_mix_parse(v, strlen(v), p.mix) < 0)
                        return api_failed(api_error(resp, 400,
                                                "parameter 'mix' must be three shares per participant "
                                                "(listeners,voice,video, e.g. 0.7,0.25,0.05) or "
                                                "listeners:L,voice:V,video:C"));
                p.has_mix = true;
        }
        *ret = p;
        return 0;
}

CapacityThresholds api_plan_thresholds(const ApiRequest *req, const char *id)
{
        CapacityThresholds t = { NAN, NAN, NAN, NAN };
        const AgentConfig *a = req->config ? config_find_agent(req->config, id) : NULL;

        if (a)
                t = a->capacity;
        capacity_thresholds_merge(&t, req->config ? &req->config->capacity : NULL);
        return t;
}

typedef struct AgentList {
        QueryAgent *agents;
        size_t n;
} AgentList;

static int agent_list_add(const QueryAgent *a, const QuerySample *latest, void *userdata)
{
        AgentList *l = userdata;

        if (l->n >= API_CURVE_AGENTS_MAX)
                return -E2BIG;
        l->agents[l->n++] = *a;
        return 0;
}

int api_plan_agents(Query *q, const ApiRequest *req, QueryAgent **ret, size_t *ret_n, ApiResponse *resp)
{
        _cleanup_free_ QueryAgent *list = NULL;
        size_t n = 0;
        int r;

        list = calloc(API_CURVE_AGENTS_MAX, sizeof(QueryAgent));
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < req->n_args; i++) {
                if (!streq(req->args[i].key, "agent"))
                        continue;
                if (n >= API_CURVE_AGENTS_MAX)
                        return api_failed(api_error(resp, 400, "too many agents (at most %d)", API_CURVE_AGENTS_MAX));
                r = api_find_agent(q, (req->args[i].value ? req->args[i].value : ""), &list[n], resp);
                if (r < 0)
                        return r;
                n++;
        }
        if (n == 0) {
                AgentList l = { .agents = list };

                r = query_agents(q, agent_list_add, &l);
                if (r == -E2BIG)
                        return api_failed(api_error(resp, 400, "more than %d agents: name them with agent=",
                                                API_CURVE_AGENTS_MAX));
                if (r < 0)
                        return api_failed(api_db_error(resp, r));
                n = l.n;
        }
        *ret = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}

int api_plan_format(const ApiRequest *req, bool html_ok, int *ret, ApiResponse *resp)
{
        const char *v = api_arg_get(req, "format");

        if (!v || streq(v, "json"))
                *ret = 0;
        else if (streq(v, "csv"))
                *ret = 1;
        else if (html_ok && streq(v, "html"))
                *ret = 2;
        else
                return api_failed(api_error(resp, 400, html_ok ? "parameter 'format' must be json, csv or html"
                                                           : "parameter 'format' must be json or csv"));
        return 0;
}

static int plan_metric(const ApiRequest *req, CurveMetric *ret, ApiResponse *resp)
{
        const char *v = api_arg_get(req, "metric");

        *ret = CURVE_CPU_RATIO;
        if (v && curve_metric_from_string(v, ret) < 0)
                return api_failed(api_error(resp, 400,
                                        "unknown metric '%.64s' (cpu_ratio, cpu_cores, working_set_bytes, "
                                        "net_rx_bps, net_tx_bps, steal_ratio)",
                                        v));
        return 0;
}

json_t *api_window_json(const ApiPlanArgs *p, const QueryWindow *w)
{
        _cleanup_json_ json_t *o = json_pack("{s:I,s:I,s:o}", "from_ms", (json_int_t)p->from_ms, "to_ms",
                                             (json_int_t)p->to_ms, "experiment",
                                             p->experiment ? json_string(p->experiment) : json_null());

        /* An agent's answer says whether its window is the one asked for, or which whole hours it is
         * where raw samples no longer cut an hour (see QueryWindow). */
        if (!o || (w && (api_json_set(o, "exact", json_boolean(w->exact)) < 0 ||
                         api_json_set(o, "answered_from_ms", json_integer(w->answered_from)) < 0 ||
                         api_json_set(o, "answered_to_ms", json_integer(w->answered_to)) < 0)))
                return NULL;
        return TAKE_PTR(o);
}

json_t *api_limits_json(const QueryEpoch *e)
{
        return json_pack("{s:I,s:o,s:o,s:o}", "epoch", (json_int_t)e->epoch, "start_ms",
                         e->start_ms >= 0 ? json_integer(e->start_ms) : json_null(), "effective_cpus",
                         api_json_number(e->effective_cpus), "memory_limit_bytes",
                         api_json_integer(e->memory_limit_bytes));
}

json_t *api_capacity_json(double threshold, double steal, const FitCapacity *c, const FitResult *f)
{
        return json_pack("{s:o,s:o,s:o,s:o,s:b,s:o,s:s}", "threshold", api_json_number(threshold), "steal_share",
                         api_json_number(steal), "users", api_json_number(c->users), "ci95",
                         api_json_interval(c->lo, c->hi), "extrapolated", c->extrapolated, "max_users_seen",
                         api_json_number(f->users_max), "quality", fit_quality_to_string(f->quality));
}

static json_t *curve_fit_to_json(const CapacityCurve *e)
{
        const FitResult *f = &e->fit;

        if (!f->valid)
                return json_null();
        return json_pack("{s:o,s:o,s:o,s:I,s:I,s:I,s:o,s:o,s:o,s:s}", "intercept", api_json_number(f->beta[0]),
                         "slope", api_json_number(f->beta[1]), "r2", api_json_number(f->r2), "samples",
                         (json_int_t)f->samples, "levels", (json_int_t)f->levels, "dof", (json_int_t)f->dof,
                         "slope_se", api_json_number(f->se[1]), "intercept_se", api_json_number(f->se[0]),
                         "slope_ci95", api_json_interval(e->slope_lo, e->slope_hi), "quality",
                         fit_quality_to_string(f->quality));
}

static double level_stat(const CurveAgg *l, int which)
{
        double v[3];

        curve_point_stats(l, &v[0], &v[1], &v[2]);
        return v[which];
}
#define level_mean(l) level_stat((l), 0)
#define level_stddev(l) level_stat((l), 1)
#define level_p95(l) level_stat((l), 2)

/* Sets points, fit, capacity and limits of one epoch's curve into o. */
static int curve_epoch_set(json_t *o, const CapacityCurve *e)
{
        json_t *points = json_array();

        if (api_json_set(o, "points", points) < 0)
                return -ENOMEM;
        for (size_t i = 0; e && i < e->n_levels; i++) {
                const CurveAgg *l = &e->levels[i];

                if (json_array_append_new(points,
                                          json_pack("{s:I,s:I,s:o,s:o,s:o,s:o}", "users", (json_int_t)l->users,
                                                    "samples", (json_int_t)l->n, "mean",
                                                    api_json_number(level_mean(l)), "stddev",
                                                    api_json_number(level_stddev(l)), "p95",
                                                    api_json_number(level_p95(l)), "max",
                                                    api_json_number(l->n > 0 ? l->max : NAN))) < 0)
                        return -ENOMEM;
        }
        if (!e)
                return api_json_set(o, "fit", json_null()) < 0 ||
                                       api_json_set(o, "capacity",
                                                json_pack("{s:n,s:n,s:n,s:n,s:b,s:n,s:s}", "threshold", "steal_share", "users", "ci95",
                                                          "extrapolated", false, "max_users_seen", "quality",
                                                          "none")) < 0 ||
                                       api_json_set(o, "limits", json_null()) < 0
                               ? -ENOMEM
                               : 0;
        if (api_json_set(o, "fit", curve_fit_to_json(e)) < 0 ||
            api_json_set(o, "capacity", api_capacity_json(e->threshold, e->steal, &e->capacity, &e->fit)) < 0 ||
            api_json_set(o, "limits", api_limits_json(&e->limits)) < 0)
                return -ENOMEM;
        return 0;
}

/* An agent's curves: the newest epoch in the window at the top (the shape of the first version), every
 * epoch in "epochs". */
static json_t *curves_agent_to_json(const QueryAgent *a, const CapacityCurves *c, const ApiPlanArgs *p)
{
        _cleanup_json_ json_t *o = json_object();
        json_t *epochs = json_array();

        if (!o || api_json_set(o, "agent", json_string(a->id)) < 0 || api_json_set(o, "virt", api_json_text(a->virt)) < 0 ||
            api_json_set(o, "labels", api_agent_labels_json(a)) < 0 || api_json_set(o, "window", api_window_json(p, &c->window)) < 0 || curve_epoch_set(o, capacity_curves_newest(c)) < 0 ||
            api_json_set(o, "epochs", epochs) < 0)
                return NULL;
        for (size_t i = 0; i < c->n; i++) {
                json_t *e = json_object();

                if (!e || json_array_append_new(epochs, e) < 0 || curve_epoch_set(e, &c->epochs[i]) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

static const char *metric_unit(CurveMetric m)
{
        switch (m) {
        case CURVE_CPU_RATIO:
                return "share_of_effective_cpus";
        case CURVE_CPU_CORES:
                return "cores";
        case CURVE_WORKING_SET:
                return "bytes";
        default:
                return "bytes_per_second";
        }
}

/* One row per agent, epoch and participant count; an agent without points is one row saying so. The
 * first 13 columns are those of the first version. */
static void curves_csv_rows(FILE *f, const QueryAgent *a, const CapacityCurves *c, CurveMetric metric)
{
        for (size_t i = 0; i < MAX(c->n, (size_t)1); i++) {
                const CapacityCurve *e = c->n > 0 ? &c->epochs[i] : NULL;
                const FitResult *fit = e ? &e->fit : NULL;

                for (size_t j = 0; j < MAX(e ? e->n_levels : 0, (size_t)1); j++) {
                        const CurveAgg *l = e && e->n_levels > 0 ? &e->levels[j] : NULL;
                        bool ok = fit && fit->valid;

                        api_csv_field(f, a->id);
                        fputc(',', f);
                        api_csv_field(f, a->virt);
                        fprintf(f, ",%s,", curve_metric_to_string(metric));
                        if (l)
                                fprintf(f, "%lld,%llu", (long long)l->users, (unsigned long long)l->n);
                        else
                                fputs(",0", f);
                        api_csv_numbers(f,
                                    (const double[]){ l ? level_mean(l) : NAN, l ? level_p95(l) : NAN,
                                                      l && l->n > 0 ? l->max : NAN, ok ? fit->beta[0] : NAN,
                                                      ok ? fit->beta[1] : NAN, ok ? fit->r2 : NAN,
                                                      e ? e->threshold : NAN, e ? e->capacity.users : NAN,
                                                      l ? level_stddev(l) : NAN },
                                    9);
                        fprintf(f, ",%s", e ? "" : "");
                        if (e)
                                fprintf(f, "%lld", (long long)e->limits.epoch);
                        api_csv_numbers(f,
                                    (const double[]){ e ? e->limits.effective_cpus : NAN,
                                                      e ? e->limits.memory_limit_bytes : NAN, e ? e->slope_lo : NAN,
                                                      e ? e->slope_hi : NAN, e ? e->capacity.lo : NAN,
                                                      e ? e->capacity.hi : NAN },
                                    6);
                        fprintf(f, ",%s,%s,%s,", e && isfinite(e->capacity.users) ? (e->capacity.extrapolated ? "1" : "0") : "",
                                fit_quality_to_string(fit ? fit->quality : FIT_NONE), metric_unit(metric));
                        /* The agent's labels as the JSON object /api/v1/agents serves. */
                        api_csv_field(f, isempty(a->labels) ? "{}" : a->labels);
                        fputs("\r\n", f);
                }
        }
}

#define CURVES_CSV_HEADER                                                                                    \
        "agent,virt,metric,users,samples,mean,p95,max,fit_intercept,fit_slope,fit_r2,capacity_threshold,"    \
        "capacity_users,stddev,epoch,effective_cpus,memory_limit_bytes,fit_slope_ci95_lo,fit_slope_ci95_hi," \
        "capacity_ci95_lo,capacity_ci95_hi,capacity_extrapolated,fit_quality,unit,labels\r\n"

int api_route_curves(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        _cleanup_free_ CapacityCurves *curves = NULL;
        _cleanup_free_ QueryAgent *list = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_json_ json_t *o = NULL;
        json_t *arr;
        CurveMetric metric;
        ApiPlanArgs p;
        size_t n = 0, size = 0;
        int format, r = 0;

        if (plan_metric(req, &metric, ret) < 0 || api_plan_format(req, false, &format, ret) < 0 ||
            api_plan_args_parse(q, req, &p, ret) < 0 ||
            api_plan_agents(q, req, &list, &n, ret) < 0)
                return 0;

        curves = calloc(MAX(n, (size_t)1), sizeof(CapacityCurves));
        if (!curves)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                CapacityThresholds t = api_plan_thresholds(req, list[i].id);

                r = capacity_curves_load(q, &list[i], metric, p.from_ms, p.to_ms, &t, p.threshold, &curves[i]);
                if (r == -E2BIG)
                        r = api_error(ret, 400, "curve of agent '%s' too large", list[i].id);
                else if (r < 0)
                        r = api_db_error(ret, r);
                else
                        r = 0;
                if (ret->status != 0)
                        goto done;
        }

        if (format == 1) {
                f = open_memstream(&buf, &size);
                if (!f) {
                        r = -ENOMEM;
                        goto done;
                }
                fputs(CURVES_CSV_HEADER, f);
                for (size_t i = 0; i < n; i++)
                        curves_csv_rows(f, &list[i], &curves[i], metric);
                r = api_response_csv(&f, &buf, &size, curve_metric_to_string(metric), ret);
                goto done;
        }

        r = -ENOMEM;
        arr = json_array();
        o = json_pack("{s:s,s:o,s:o}", "metric", curve_metric_to_string(metric), "window", api_window_json(&p, NULL),
                      "agents", arr);
        if (!o)
                goto done;
        r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                json_t *a = curves_agent_to_json(&list[i], &curves[i], &p);

                if (!a || json_array_append_new(arr, a) < 0)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = api_response_json(ret, 200, TAKE_PTR(o));
done:
        for (size_t i = 0; i < n; i++)
                capacity_curves_done(&curves[i]);
        return r;
}

/* ---- the model ---- */

static const char *const model_terms[FIT_PARAMS_MAX] = { "base", "listeners", "voice", "video" };

json_t *api_model_epoch_json(const CapacityModel *e)
{
        _cleanup_json_ json_t *o = json_object();
        json_t *coef = json_object();
        const FitResult *f = &e->fit;

        if (!o || api_json_set(o, "coefficients", coef) < 0)
                return NULL;
        for (unsigned i = 0; i < FIT_PARAMS_MAX; i++) {
                double lo = f->beta[i] - f->t95 * f->se[i], hi = f->beta[i] + f->t95 * f->se[i];

                if (api_json_set(coef, model_terms[i],
                             f->active[i] ? json_pack("{s:o,s:o,s:o}", "value", api_json_number(f->beta[i]),
                                                      "se", api_json_number(f->se[i]), "ci95",
                                                      api_json_interval(lo, hi))
                                          : json_null()) < 0)
                        return NULL;
        }
        if (api_json_set(o, "limits", api_limits_json(&e->limits)) < 0 ||
            api_json_set(o, "r2", api_json_number(f->r2)) < 0 ||
            api_json_set(o, "levels", json_integer((json_int_t)f->levels)) < 0 ||
            api_json_set(o, "samples", json_integer((json_int_t)f->samples)) < 0 ||
            api_json_set(o, "dof", json_integer((json_int_t)f->dof)) < 0 ||
            api_json_set(o, "quality", json_string(fit_quality_to_string(f->quality))) < 0 ||
            api_json_set(o, "mix",
                     json_pack("{s:o,s:o,s:o,s:b}", "listeners", api_json_number(e->mix[0]), "voice",
                               api_json_number(e->mix[1]), "video", api_json_number(e->mix[2]), "observed",
                               e->mix_observed)) < 0 ||
            api_json_set(o, "per_user",
                     json_pack("{s:o,s:o}", "value", api_json_number(e->per_user), "se",
                               api_json_number(e->per_user_se))) < 0 ||
            api_json_set(o, "capacity", api_capacity_json(e->threshold, e->steal, &e->capacity, f)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static json_t *model_agent_to_json(const QueryAgent *a, const CapacityModels *m, const ApiPlanArgs *p)
{
        _cleanup_json_ json_t *o = json_object();
        json_t *epochs = json_array();

        if (!o || api_json_set(o, "agent", json_string(a->id)) < 0 || api_json_set(o, "virt", api_json_text(a->virt)) < 0 ||
            api_json_set(o, "labels", api_agent_labels_json(a)) < 0 || api_json_set(o, "window", api_window_json(p, &m->window)) < 0 ||
            api_json_set(o, "model", m->n > 0 ? api_model_epoch_json(&m->epochs[m->n - 1]) : json_null()) < 0 ||
            api_json_set(o, "epochs", epochs) < 0)
                return NULL;
        for (size_t i = 0; i < m->n; i++)
                if (json_array_append_new(epochs, api_model_epoch_json(&m->epochs[i])) < 0)
                        return NULL;
        return TAKE_PTR(o);
}

int api_route_model(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        _cleanup_free_ QueryAgent *list = NULL;
        _cleanup_json_ json_t *o = NULL;
        json_t *arr;
        CurveMetric metric;
        ApiPlanArgs p;
        size_t n = 0;
        int r = 0;

        if (plan_metric(req, &metric, ret) < 0 || api_plan_args_parse(q, req, &p, ret) < 0 ||
            api_plan_agents(q, req, &list, &n, ret) < 0)
                return 0;

        arr = json_array();
        o = json_pack("{s:s,s:o,s:o,s:o}", "metric", curve_metric_to_string(metric), "window", api_window_json(&p, NULL),
                      "mix",
                      p.has_mix ? json_pack("[f,f,f]", p.mix[0], p.mix[1], p.mix[2]) : json_null(),
                      "agents", arr);
        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                CapacityThresholds t = api_plan_thresholds(req, list[i].id);
                CapacityModels m;
                json_t *a;

                r = capacity_models_load(q, &list[i], metric, p.from_ms, p.to_ms, p.has_mix ? p.mix : NULL, &t,
                                         p.threshold, &m);
                if (r == -E2BIG)
                        return api_error(ret, 400, "model of agent '%s' too large", list[i].id);
                if (r < 0)
                        return api_db_error(ret, r);
                a = model_agent_to_json(&list[i], &m, &p);
                capacity_models_done(&m);
                if (!a || json_array_append_new(arr, a) < 0)
                        return -ENOMEM;
        }
        return api_response_json(ret, 200, TAKE_PTR(o));
}

