/* The printable capacity report. See report.h. */

#include <math.h>
#include <time.h>

#include "report.h"

#define CHART_W 360
#define CHART_H 220
#define CHART_L 56 /* room for the y labels */
#define CHART_B 30 /* room for the x labels */
#define CHART_T 12
#define CHART_R 12
#define BAND_STEPS 40

static const char *const unit_texts[_CAPACITY_RESOURCE_MAX] = {
        [CAPACITY_CPU] = "share of effective CPUs",
        [CAPACITY_MEMORY] = "bytes",
        [CAPACITY_NET_RX] = "bytes/s",
        [CAPACITY_NET_TX] = "bytes/s",
};
static const char *const unit_suffixes[_CAPACITY_RESOURCE_MAX] = {
        [CAPACITY_CPU] = "share",
        [CAPACITY_MEMORY] = "bytes",
        [CAPACITY_NET_RX] = "bytes_per_s",
        [CAPACITY_NET_TX] = "bytes_per_s",
};
static const char *const resource_titles[_CAPACITY_RESOURCE_MAX] = {
        [CAPACITY_CPU] = "CPU (share of the effective CPUs)",
        [CAPACITY_MEMORY] = "Memory (working set)",
        [CAPACITY_NET_RX] = "Network received",
        [CAPACITY_NET_TX] = "Network sent",
};

const char *report_unit_text(CapacityResource r)
{
        return (unsigned)r < _CAPACITY_RESOURCE_MAX ? unit_texts[r] : NULL;
}

const char *report_unit_suffix(CapacityResource r)
{
        return (unsigned)r < _CAPACITY_RESOURCE_MAX ? unit_suffixes[r] : NULL;
}

static void html_text(FILE *f, const char *s)
{
        for (; s && *s; s++)
                switch (*s) {
                case '<':
                        fputs("&lt;", f);
                        break;
                case '>':
                        fputs("&gt;", f);
                        break;
                case '&':
                        fputs("&amp;", f);
                        break;
                case '"':
                        fputs("&quot;", f);
                        break;
                default:
                        fputc(*s, f);
                }
}

/* A value in the unit people read: % of the CPUs, MiB, Mbit/s (network figures are bytes in the API and
 * the CSV; here they are converted and say so). */
static void value_text(FILE *f, CapacityResource r, double v)
{
        if (!isfinite(v))
                fputs("&ndash;", f);
        else if (r == CAPACITY_CPU)
                fprintf(f, "%.2f%%", 100 * v);
        else if (r == CAPACITY_MEMORY && fabs(v) >= 1024.0 * 1024 * 1024)
                fprintf(f, "%.2f GiB", v / (1024.0 * 1024 * 1024));
        else if (r == CAPACITY_MEMORY)
                fprintf(f, "%.1f MiB", v / (1024 * 1024));
        else
                fprintf(f, "%.3f Mbit/s", v * 8 / 1e6);
}

static void users_text(FILE *f, double v)
{
        if (isinf(v))
                fputs("&infin;", f);
        else if (!isfinite(v))
                fputs("&ndash;", f);
        else
                fprintf(f, "%.1f", v);
}

static void time_text(FILE *f, int64_t ms)
{
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        char buf[32];

        if (ms <= 0 || !gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm) == 0)
                fputs("&ndash;", f);
        else
                fputs(buf, f);
}

static double fit_at(const FitResult *fit, double x)
{
        return fit->beta[0] + fit->beta[1] * x;
}

/* Half width of the 95% interval of the fitted mean at x. */
static double band_at(const FitResult *fit, double x)
{
        double v = fit->cov[0][0] + x * x * fit->cov[1][1] + 2 * x * fit->cov[0][1];

        return fit->dof > 0 && isfinite(v) ? fit->t95 * sqrt(MAX(0.0, v)) : NAN;
}

static void chart(FILE *f, const ReportAgent *a, CapacityResource r, const CapacityCurve *e)
{
        const FitResult *fit = &e->fit;
        const FitCapacity *cap = &e->capacity;
        double xmax = 1, ymax = 0, sx, sy;

        for (size_t i = 0; i < e->n_levels; i++) {
                double p95;

                xmax = MAX(xmax, (double)e->levels[i].users);
                curve_point_stats(&e->levels[i], NULL, NULL, &p95);
                if (isfinite(p95))
                        ymax = MAX(ymax, p95);
        }
        /* Show the capacity when it is within 4 times what was seen; beyond, an arrow says where. */
        if (isfinite(cap->users) && cap->users <= 4 * xmax)
                xmax = MAX(xmax, isfinite(cap->hi) && cap->hi <= 4 * xmax ? cap->hi : cap->users);
        xmax *= 1.05;
        if (fit->valid)
                ymax = MAX(ymax, fit_at(fit, xmax) + (isfinite(band_at(fit, xmax)) ? band_at(fit, xmax) : 0));
        if (isfinite(e->threshold) && e->threshold <= 4 * MAX(ymax, 1e-300))
                ymax = MAX(ymax, e->threshold);
        ymax = ymax > 0 ? ymax * 1.08 : 1;
        sx = (CHART_W - CHART_L - CHART_R) / xmax;
        sy = (CHART_H - CHART_T - CHART_B) / ymax;
#define X(v) (CHART_L + (v) * sx)
#define Y(v) (CHART_H - CHART_B - (v) * sy)

        fprintf(f, "<figure><figcaption>");
        html_text(f, resource_titles[r]);
        fprintf(f, "</figcaption><svg class=\"chart\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
                   "data-agent=\"",
                CHART_W, CHART_H, CHART_W, CHART_H);
        html_text(f, a->agent->id);
        fprintf(f, "\" data-resource=\"%s\" data-points=\"%zu\" data-capacity=\"%.6g\">", capacity_resource_to_string(r),
                e->n_levels, isfinite(cap->users) ? cap->users : -1.0);
        /* axes */
        fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", CHART_L, CHART_H - CHART_B,
                CHART_W - CHART_R, CHART_H - CHART_B);
        fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", CHART_L, CHART_T, CHART_L,
                CHART_H - CHART_B);
        for (int i = 0; i <= 4; i++) {
                fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>",
                        X(xmax * i / 4), CHART_H - CHART_B + 14, xmax * i / 4);
                fprintf(f, "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", CHART_L - 4,
                        Y(ymax * i / 4) + 4);
                value_text(f, r, ymax * i / 4);
                fputs("</text>", f);
        }
        fprintf(f, "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">participants</text>",
                (CHART_W + CHART_L) / 2, CHART_H - 2);

        /* capacity interval, then the fit band, the fit, the threshold */
        if (isfinite(cap->users) && cap->users <= xmax) {
                double lo = isfinite(cap->lo) ? cap->lo : cap->users, hi = isfinite(cap->hi) ? MIN(cap->hi, xmax) : cap->users;
                fprintf(f, "<rect class=\"capband\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>", X(lo),
                        CHART_T, MAX(X(hi) - X(lo), 1.0), CHART_H - CHART_T - CHART_B);
                fprintf(f, "<line class=\"cap\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", X(cap->users), CHART_T,
                        X(cap->users), CHART_H - CHART_B);
        } else if (isfinite(cap->users))
                fprintf(f, "<text class=\"far\" x=\"%d\" y=\"%d\" text-anchor=\"end\">capacity %.0f &rarr;</text>",
                        CHART_W - CHART_R, CHART_T + 12, cap->users);
        if (fit->valid && fit->dof > 0) {
                fputs("<path class=\"band\" d=\"", f);
                for (int i = 0; i <= BAND_STEPS; i++) {
                        double x = xmax * i / BAND_STEPS;
                        fprintf(f, "%c%.1f,%.1f", i ? 'L' : 'M', X(x), Y(MIN(ymax, fit_at(fit, x) + band_at(fit, x))));
                }
                for (int i = BAND_STEPS; i >= 0; i--) {
                        double x = xmax * i / BAND_STEPS;
                        fprintf(f, "L%.1f,%.1f", X(x), Y(MAX(0.0, fit_at(fit, x) - band_at(fit, x))));
                }
                fputs("Z\"/>", f);
        }
        if (fit->valid)
                fprintf(f, "<line class=\"fit\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", X(0.0),
                        Y(MIN(ymax, MAX(0.0, fit_at(fit, 0)))), X(xmax), Y(MIN(ymax, MAX(0.0, fit_at(fit, xmax)))));
        if (isfinite(e->threshold) && e->threshold <= ymax)
                fprintf(f, "<line class=\"threshold\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", CHART_L,
                        Y(e->threshold), CHART_W - CHART_R, Y(e->threshold));
        for (size_t i = 0; i < e->n_levels; i++) {
                double mean, p95, x = (double)e->levels[i].users;

                curve_point_stats(&e->levels[i], &mean, NULL, &p95);
                if (isfinite(p95))
                        fprintf(f, "<line class=\"p95\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", X(x),
                                Y(mean), X(x), Y(p95));
                fprintf(f, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>", X(x), Y(mean));
        }
        fputs("</svg></figure>\n", f);
#undef X
#undef Y
}

static void interval_text(FILE *f, CapacityResource r, double lo, double hi, bool users)
{
        if (!isfinite(lo) && !isfinite(hi))
                return;
        fputs(" <span class=\"ci\">[", f);
        if (users)
                users_text(f, lo);
        else
                value_text(f, r, lo);
        fputs(", ", f);
        if (users)
                users_text(f, hi);
        else
                value_text(f, r, hi);
        fputs("]</span>", f);
}

static void agent_section(FILE *f, const ReportAgent *a, const ReportWindow *w)
{
        const CapacityCurve *cpu = capacity_curves_newest(a->curves[CAPACITY_CPU]);
        bool any = false;

        fputs("<section class=\"guest\"><h2>", f);
        html_text(f, a->agent->id);
        fputs(" <small>", f);
        html_text(f, a->agent->virt[0] ? a->agent->virt : "unknown");
        if (a->agent->hostname[0]) {
                fputs(", ", f);
                html_text(f, a->agent->hostname);
        }
        fputs("</small></h2>\n<p class=\"limits\">", f);
        if (cpu) {
                fprintf(f, "Limits epoch %lld", (long long)cpu->limits.epoch);
                if (cpu->limits.start_ms > 0) {
                        fputs(" since ", f);
                        time_text(f, cpu->limits.start_ms);
                }
                fprintf(f, ": ");
                if (isfinite(cpu->limits.effective_cpus))
                        fprintf(f, "%.2f effective CPUs", cpu->limits.effective_cpus);
                else
                        fputs("CPUs unknown", f);
                if (isfinite(cpu->limits.memory_limit_bytes))
                        fprintf(f, ", %.0f MiB memory", cpu->limits.memory_limit_bytes / (1024 * 1024));
                fputs(".", f);
        } else
                fputs("No points in this window.", f);
        fputs("</p>\n<table class=\"figures\"><tr><th>resource</th><th>per participant [95%]</th>"
              "<th>with nobody</th><th>levels / samples</th><th>per listener</th><th>per voice user</th>"
              "<th>per video stream</th><th>threshold</th><th>capacity (participants) [95%]</th></tr>\n",
              f);
        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++) {
                const CapacityCurve *e = capacity_curves_newest(a->curves[r]);
                const CapacityModels *mm = a->models[r];
                const CapacityModel *m = mm && mm->n > 0 ? &mm->epochs[mm->n - 1] : NULL;

                if (!e)
                        continue;
                any = true;
                fprintf(f, "<tr><td>%s</td><td>", capacity_resource_to_string((CapacityResource)r));
                value_text(f, (CapacityResource)r, e->fit.valid ? e->fit.beta[1] : NAN);
                interval_text(f, (CapacityResource)r, e->slope_lo, e->slope_hi, false);
                fputs("</td><td>", f);
                value_text(f, (CapacityResource)r, e->fit.valid ? e->fit.beta[0] : NAN);
                fprintf(f, "</td><td>%zu / %llu <span class=\"quality\">%s</span></td>", e->fit.levels,
                        (unsigned long long)e->fit.samples, fit_quality_to_string(e->fit.quality));
                for (unsigned j = 1; j <= 3; j++) {
                        fputs("<td>", f);
                        if (m && m->fit.active[j]) {
                                value_text(f, (CapacityResource)r, m->fit.beta[j]);
                                if (isfinite(m->fit.se[j])) {
                                        fputs(" &plusmn; ", f);
                                        value_text(f, (CapacityResource)r, m->fit.se[j]);
                                }
                        } else
                                fputs("&ndash;", f);
                        fputs("</td>", f);
                }
                fputs("<td>", f);
                value_text(f, (CapacityResource)r, e->threshold);
                if (isfinite(e->steal))
                        fprintf(f, " <span class=\"steal\">(after %.1f%% steal)</span>", 100 * e->steal);
                fprintf(f, "</td><td class=\"capacity\" data-resource=\"%s\">",
                        capacity_resource_to_string((CapacityResource)r));
                users_text(f, e->capacity.users);
                interval_text(f, (CapacityResource)r, e->capacity.lo, e->capacity.hi, true);
                if (e->capacity.extrapolated)
                        fputs(" <span class=\"flag\">extrapolated</span>", f);
                fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
        if (!any)
                fputs("<p class=\"empty\">This guest has no points in the window.</p>\n", f);
        else if (a->binding >= 0) {
                const CapacityCurve *b = capacity_curves_newest(a->curves[a->binding]);

                fprintf(f, "<p class=\"binding\">Runs out of <b>%s</b> first, at <b>",
                        capacity_resource_to_string((CapacityResource)a->binding));
                users_text(f, b->capacity.users);
                fputs("</b> participants", f);
                interval_text(f, (CapacityResource)a->binding, b->capacity.lo, b->capacity.hi, true);
                fputs(".</p>\n", f);
        } else
                fputs("<p class=\"binding\">No resource reaches its threshold within what the data says.</p>\n", f);
        fputs("<div class=\"charts\">", f);
        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++) {
                const CapacityCurve *e = capacity_curves_newest(a->curves[r]);

                if (e && e->n_levels > 0)
                        chart(f, a, (CapacityResource)r, e);
        }
        fputs("</div></section>\n", f);
        (void)w;
}

static const char report_css[] =
        "body{font:13px/1.4 system-ui,sans-serif;margin:24px;color:#222}"
        "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 4px}small{color:#666;font-weight:normal}"
        "table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
        "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
        ".ci{color:#666}.flag{color:#a40;font-weight:bold}.quality{color:#666;font-size:11px}"
        ".charts{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}figcaption{font-weight:bold}"
        ".axis{stroke:#444}.tick{font-size:10px;fill:#444}.point{fill:#1565c0}.p95{stroke:#90caf9;stroke-width:2}"
        ".fit{stroke:#c62828;stroke-width:1.5}.band{fill:#c62828;fill-opacity:.15;stroke:none}"
        ".threshold{stroke:#555;stroke-dasharray:4 3}.cap{stroke:#2e7d32;stroke-width:1.5}"
        ".capband{fill:#2e7d32;fill-opacity:.15}.far{font-size:11px;fill:#2e7d32}"
        "section.guest{page-break-inside:avoid;border-top:2px solid #ddd;margin-top:12px}"
        "@media print{body{margin:8mm}}";

QueryWindow report_agent_window(const ReportAgent *a)
{
        QueryWindow w = { .exact = true, .answered_from = INT64_MAX, .answered_to = INT64_MIN };

        assert(a);
        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++) {
                const QueryWindow *c = a->curves[r] ? &a->curves[r]->window : NULL;

                if (!c)
                        continue;
                w.exact = w.exact && c->exact;
                w.answered_from = MIN(w.answered_from, c->answered_from);
                w.answered_to = MAX(w.answered_to, c->answered_to);
        }
        return w;
}

/* Whether every guest's window was answered exactly. */
static bool report_window_exact(const ReportAgent *agents, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!report_agent_window(&agents[i]).exact)
                        return false;
        return true;
}

int report_html(const ReportAgent *agents, size_t n, const ReportWindow *w, FILE *f)
{
        assert(agents || n == 0);
        assert(w);
        assert(f);

        fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<title>seatmeter capacity report</title><style>%s</style></head><body>\n",
                report_css);
        fputs("<h1>Capacity report</h1>\n<p class=\"window\">", f);
        if (w->experiment) {
                fputs("Experiment <b>", f);
                html_text(f, w->experiment);
                fputs("</b>: ", f);
        }
        if (w->from_ms > 0) {
                fputs("from ", f);
                time_text(f, w->from_ms);
        } else
                fputs("all history", f);
        fputs(" to ", f);
        time_text(f, w->to_ms);
        if (!report_window_exact(agents, n))
                fputs(" (widened to whole hours at an edge whose raw samples have expired)", f);
        fputs(". Participant mix: ", f);
        if (w->mix)
                fprintf(f, "%.3g listeners, %.3g voice users, %.3g video streams per participant", w->mix[0], w->mix[1],
                        w->mix[2]);
        else
                fputs("each guest's own", f);
        fputs(". Per participant: the fit over the participant levels, each counted once; intervals are 95%. "
              "Network in Mbit/s (10<sup>6</sup> bits per second).</p>\n",
              f);

        /* Side by side: one column per guest. */
        fputs("<table class=\"compare\"><tr><th></th>", f);
        for (size_t i = 0; i < n; i++) {
                fputs("<th>", f);
                html_text(f, agents[i].agent->id);
                fputs(" <small>", f);
                html_text(f, agents[i].agent->virt);
                fputs("</small></th>", f);
        }
        fputs("</tr>\n<tr><td>binding resource</td>", f);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "<td class=\"binding\">%s</td>",
                        agents[i].binding >= 0 ? capacity_resource_to_string((CapacityResource)agents[i].binding)
                                               : "&ndash;");
        fputs("</tr>\n<tr><td>capacity (participants)</td>", f);
        for (size_t i = 0; i < n; i++) {
                const CapacityCurve *b = agents[i].binding >= 0 ? capacity_curves_newest(agents[i].curves[agents[i].binding])
                                                                : NULL;
                fputs("<td class=\"capacity-summary\">", f);
                users_text(f, b ? b->capacity.users : NAN);
                if (b)
                        interval_text(f, CAPACITY_CPU, b->capacity.lo, b->capacity.hi, true);
                fputs("</td>", f);
        }
        fputs("</tr>\n", f);
        for (unsigned r = 0; r < _CAPACITY_RESOURCE_MAX; r++) {
                fprintf(f, "<tr><td>%s per participant</td>", capacity_resource_to_string((CapacityResource)r));
                for (size_t i = 0; i < n; i++) {
                        const CapacityCurve *e = capacity_curves_newest(agents[i].curves[r]);

                        fputs("<td>", f);
                        value_text(f, (CapacityResource)r, e && e->fit.valid ? e->fit.beta[1] : NAN);
                        if (e)
                                interval_text(f, (CapacityResource)r, e->slope_lo, e->slope_hi, false);
                        fputs("</td>", f);
                }
                fputs("</tr>\n", f);
        }
        fputs("</table>\n", f);

        for (size_t i = 0; i < n; i++)
                agent_section(f, &agents[i], w);
        fputs("<p class=\"footer\">seatmeter, generated ", f);
        time_text(f, w->now_ms);
        fputs(".</p></body></html>\n", f);
        return ferror(f) ? -ENOMEM : 0;
}
