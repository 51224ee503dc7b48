#pragma once
/* The printable capacity report (/api/v1/report?format=html): guests side by side the way the published
 * KVM / LXC / OpenVZ comparison puts them, with an SVG chart per resource (level means, p95, the fit and
 * its 95% band, the threshold, the capacity and its interval). Pure: renders structs into a FILE. */

#include <stdio.h>

#include "capacity.h"

typedef struct ReportAgent {
        const QueryAgent *agent;
        const CapacityCurves *curves[_CAPACITY_RESOURCE_MAX];
        const CapacityModels *models[_CAPACITY_RESOURCE_MAX];
        int binding; /* CapacityResource, or -1: no resource has a capacity */
} ReportAgent;

typedef struct ReportWindow {
        int64_t from_ms, to_ms;
        const char *experiment; /* NULL: none */
        const double *mix;      /* NULL: each guest's observed mix */
        int64_t now_ms;
} ReportWindow;

/* The unit of a resource's values as the report names it: "share of effective CPUs", "bytes",
 * "bytes/s"; and the suffix its CSV columns carry ("share", "bytes", "bytes_per_s"). */
const char *report_unit_text(CapacityResource r);
const char *report_unit_suffix(CapacityResource r);

/* How an agent's window was answered over its resources: exact when every resource's was, else from
 * the earliest to the latest time answered (see QueryWindow). */
QueryWindow report_agent_window(const ReportAgent *a);

/* Writes a complete HTML page (inline CSS and SVG, no scripts) for the n agents. Returns 0, or -ENOMEM
 * when f failed. */
int report_html(const ReportAgent *agents, size_t n, const ReportWindow *w, FILE *f);
