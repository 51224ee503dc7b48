/* The capacity report (api-report.h): guests side by side as JSON, CSV and a printable page. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "api-agents.h"
#include "api-capacity.h"
#include "api-report.h"
#include "report.h"
#include "util.h"

typedef struct ReportData {
        QueryAgent agent;
        CapacityCurves curves[_CAPACITY_RESOURCE_MAX];
        CapacityModels models[_CAPACITY_RESOURCE_MAX];
        ReportAgent view;
} ReportData;

static void report_data_done(ReportData *d)
{
        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++) {
                capacity_curves_done(&d->curves[r]);
                capacity_models_done(&d->models[r]);
        }
}

static int report_load(Query *q, const ApiRequest *req, const ApiPlanArgs *p, ReportData *d)
{
        CapacityThresholds t = api_plan_thresholds(req, d->agent.id);
        CapacityResource binding;
        int r;

        d->view = (ReportAgent){ .agent = &d->agent, .binding = -1 };
        for (unsigned i = 0; i < _CAPACITY_RESOURCE_MAX; i++) {
                CurveMetric m = capacity_resource_metric((CapacityResource)i);

                r = capacity_curves_load(q, &d->agent, m, p->from_ms, p->to_ms, &t, NAN, &d->curves[i]);
                if (r >= 0)
                        r = capacity_models_load(q, &d->agent, m, p->from_ms, p->to_ms, p->has_mix ? p->mix : NULL, &t,
                                                 NAN, &d->models[i]);
                if (r < 0)
                        return r;
                d->view.curves[i] = &d->curves[i];
                d->view.models[i] = &d->models[i];
        }
        if (capacity_binding(d->view.curves, &binding) >= 0)
                d->view.binding = (int)binding;
        return 0;
}

/* Mean of the within-level standard deviations, weighted by samples: how much one sample scatters. */
static double curve_sample_stddev(const CapacityCurve *e)
{
        double ss = 0;
        uint64_t n = 0;

        for (size_t i = 0; e && i < e->n_levels; i++) {
                const CurveAgg *l = &e->levels[i];

                if (l->n == 0)
                        continue;
                ss += MAX(0.0, l->sumsq - l->sum * l->sum / (double)l->n);
                n += l->n;
        }
        return n > 0 ? sqrt(ss / (double)n) : NAN;
}

static json_t *report_resource_to_json(const CapacityCurve *e, const CapacityModels *mm, CapacityResource r)
{
        const CapacityModel *m = mm->n > 0 ? &mm->epochs[mm->n - 1] : NULL;

        if (!e)
                return json_null();
        return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:s,s:o,s:o,s:o,s:o}", "metric",
                         curve_metric_to_string(capacity_resource_metric(r)), "unit", report_unit_text(r),
                         "per_user", api_json_number(e->fit.valid ? e->fit.beta[1] : NAN), "per_user_ci95",
                         api_json_interval(e->slope_lo, e->slope_hi), "base",
                         api_json_number(e->fit.valid ? e->fit.beta[0] : NAN), "r2", api_json_number(e->fit.r2),
                         "sample_stddev", api_json_number(curve_sample_stddev(e)), "levels",
                         (json_int_t)e->fit.levels, "samples", (json_int_t)e->fit.samples, "quality",
                         fit_quality_to_string(e->fit.quality), "threshold", api_json_number(e->threshold),
                         "capacity", api_capacity_json(e->threshold, e->steal, &e->capacity, &e->fit), "model",
                         m ? api_model_epoch_json(m) : json_null(), "limits", api_limits_json(&e->limits));
}

static json_t *report_agent_to_json(const ReportData *d, const ApiPlanArgs *p)
{
        QueryWindow w = report_agent_window(&d->view);
        _cleanup_json_ json_t *o = json_object();
        json_t *res = json_object();
        const CapacityCurve *b =
                d->view.binding >= 0 ? capacity_curves_newest(&d->curves[d->view.binding]) : NULL;
        bool any = false;

        if (!o || api_json_set(o, "agent", json_string(d->agent.id)) < 0 ||
            api_json_set(o, "virt", api_json_text(d->agent.virt)) < 0 ||
            api_json_set(o, "hostname", api_json_text(d->agent.hostname)) < 0 ||
            api_json_set(o, "labels", api_agent_labels_json(&d->agent)) < 0 ||
            api_json_set(o, "window", api_window_json(p, &w)) < 0 || api_json_set(o, "resources", res) < 0)
                return NULL;
        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++) {
                const CapacityCurve *e = capacity_curves_newest(&d->curves[r]);

                any = any || e;
                if (api_json_set(res, capacity_resource_to_string((CapacityResource)r),
                             report_resource_to_json(e, &d->models[r], (CapacityResource)r)) < 0)
                        return NULL;
        }
        if (api_json_set(o, "status", json_string(any ? "ok" : "no_points")) < 0 ||
            api_json_set(o, "binding",
                     b ? json_pack("{s:s,s:o,s:o}", "resource",
                                   capacity_resource_to_string((CapacityResource)d->view.binding), "users",
                                   api_json_number(b->capacity.users), "ci95",
                                   api_json_interval(b->capacity.lo, b->capacity.hi))
                       : json_null()) < 0)
                return NULL;
        return TAKE_PTR(o);
}

/* One row per agent (its newest epoch in the window), units in every column name. */
static void report_csv_header(FILE *f)
{
        fputs("agent,virt,hostname,labels,status,epoch,effective_cpus,memory_limit_bytes,window_from_ms,window_to_ms,"
              "binding_resource,binding_capacity_users,binding_capacity_ci95_lo_users,binding_capacity_ci95_hi_users",
              f);
        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++) {
                const char *n = capacity_resource_to_string((CapacityResource)r), *u = report_unit_suffix((CapacityResource)r);

                fprintf(f,
                        ",%s_per_user_%s,%s_per_user_ci95_lo_%s,%s_per_user_ci95_hi_%s,%s_base_%s,%s_sample_stddev_%s,"
                        "%s_r2,%s_levels,%s_samples,%s_quality,%s_threshold_%s,%s_capacity_users,"
                        "%s_capacity_ci95_lo_users,%s_capacity_ci95_hi_users,%s_capacity_extrapolated,"
                        "%s_per_listener_%s,%s_per_voice_%s,%s_per_video_%s,%s_per_listener_se_%s,%s_per_voice_se_%s,"
                        "%s_per_video_se_%s",
                        n, u, n, u, n, u, n, u, n, u, n, n, n, n, n, u, n, n, n, n, n, u, n, u, n, u, n, u, n, u, n, u);
        }
        fputs(",cpu_steal_share\r\n", f);
}

static void report_csv_row(FILE *f, const ReportData *d, const ApiPlanArgs *p)
{
        const CapacityCurve *cpu = capacity_curves_newest(&d->curves[CAPACITY_CPU]);
        const CapacityCurve *b = d->view.binding >= 0 ? capacity_curves_newest(&d->curves[d->view.binding]) : NULL;
        bool any = false;

        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++)
                any = any || capacity_curves_newest(&d->curves[r]);
        api_csv_field(f, d->agent.id);
        fputc(',', f);
        api_csv_field(f, d->agent.virt);
        fputc(',', f);
        api_csv_field(f, d->agent.hostname);
        fputc(',', f);
        api_csv_field(f, d->agent.labels[0] ? d->agent.labels : "{}");
        fprintf(f, ",%s,", any ? "ok" : "no_points");
        if (cpu)
                fprintf(f, "%lld", (long long)cpu->limits.epoch);
        api_csv_numbers(f,
                    (const double[]){ cpu ? cpu->limits.effective_cpus : d->agent.effective_cpus,
                                      cpu ? cpu->limits.memory_limit_bytes : d->agent.memory_limit_bytes,
                                      (double)p->from_ms, (double)p->to_ms },
                    4);
        fprintf(f, ",%s", b ? capacity_resource_to_string((CapacityResource)d->view.binding) : "");
        api_csv_numbers(f, (const double[]){ b ? b->capacity.users : NAN, b ? b->capacity.lo : NAN, b ? b->capacity.hi : NAN },
                    3);
        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++) {
                const CapacityCurve *e = capacity_curves_newest(&d->curves[r]);
                const CapacityModel *m = d->models[r].n > 0 ? &d->models[r].epochs[d->models[r].n - 1] : NULL;
                bool ok = e && e->fit.valid;

                api_csv_numbers(f,
                            (const double[]){ ok ? e->fit.beta[1] : NAN, e ? e->slope_lo : NAN, e ? e->slope_hi : NAN,
                                              ok ? e->fit.beta[0] : NAN, curve_sample_stddev(e), e ? e->fit.r2 : NAN,
                                              e ? (double)e->fit.levels : NAN, e ? (double)e->fit.samples : NAN },
                            8);
                fprintf(f, ",%s", e ? fit_quality_to_string(e->fit.quality) : "");
                api_csv_numbers(f,
                            (const double[]){ e ? e->threshold : NAN, e ? e->capacity.users : NAN,
                                              e ? e->capacity.lo : NAN, e ? e->capacity.hi : NAN },
                            4);
                fprintf(f, ",%s", e && isfinite(e->capacity.users) ? (e->capacity.extrapolated ? "1" : "0") : "");
                api_csv_numbers(f,
                            (const double[]){ m ? m->fit.beta[1] : NAN, m ? m->fit.beta[2] : NAN, m ? m->fit.beta[3] : NAN,
                                              m ? m->fit.se[1] : NAN, m ? m->fit.se[2] : NAN, m ? m->fit.se[3] : NAN },
                            6);
        }
        api_csv_numbers(f, (const double[]){ cpu ? cpu->steal : NAN }, 1);
        fputs("\r\n", f);
}

int api_route_report(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        _cleanup_free_ ReportData *data = NULL;
        _cleanup_free_ ReportAgent *views = NULL;
        _cleanup_free_ QueryAgent *list = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_json_ json_t *o = NULL;
        size_t n = 0, size = 0;
        json_t *arr;
        ApiPlanArgs p;
        int format, r = 0;

        if (api_plan_format(req, true, &format, ret) < 0 || api_plan_args_parse(q, req, &p, ret) < 0 ||
            api_plan_agents(q, req, &list, &n, ret) < 0)
                return 0;
        data = calloc(MAX(n, (size_t)1), sizeof(ReportData));
        views = calloc(MAX(n, (size_t)1), sizeof(ReportAgent));
        if (!data || !views)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                data[i].agent = list[i];
                r = report_load(q, req, &p, &data[i]);
                views[i] = data[i].view;
        }
        if (r == -E2BIG) {
                r = api_error(ret, 400, "too many levels to report");
                goto done;
        }
        if (r < 0) {
                r = api_db_error(ret, r);
                goto done;
        }

        if (format == 0) {
                r = -ENOMEM;
                arr = json_array();
                o = json_pack("{s:o,s:o,s:o}", "window", api_window_json(&p, NULL), "mix",
                              p.has_mix ? json_pack("[f,f,f]", p.mix[0], p.mix[1], p.mix[2]) : json_null(), "agents",
                              arr);
                if (!o)
                        goto done;
                r = 0;
                for (size_t i = 0; i < n && r >= 0; i++) {
                        json_t *a = report_agent_to_json(&data[i], &p);

                        if (!a || json_array_append_new(arr, a) < 0)
                                r = -ENOMEM;
                }
                if (r >= 0)
                        r = api_response_json(ret, 200, TAKE_PTR(o));
                goto done;
        }

        f = open_memstream(&buf, &size);
        if (!f) {
                r = -ENOMEM;
                goto done;
        }
        if (format == 1) {
                report_csv_header(f);
                for (size_t i = 0; i < n; i++)
                        report_csv_row(f, &data[i], &p);
                r = api_response_csv(&f, &buf, &size, "report", ret);
                goto done;
        }
        r = report_html(views, n,
                        &(const ReportWindow){ .from_ms = p.from_ms, .to_ms = p.to_ms, .experiment = p.experiment,
                                               .mix = p.has_mix ? p.mix : NULL, .now_ms = req->now_ms },
                        f);
        if (r >= 0 && (fflush(f) != 0 || ferror(f)))
                r = -ENOMEM;
        if (r >= 0) {
                fclose(TAKE_PTR(f));
                ret->status = 200;
                ret->content_type = API_CONTENT_TYPE_HTML;
                ret->body = TAKE_PTR(buf);
                ret->size = size;
        }
done:
        for (size_t i = 0; i < n; i++)
                report_data_done(&data[i]);
        return r;
}

