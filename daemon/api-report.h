#pragma once
/* The capacity report: chosen guests side by side (per-participant cost per resource with intervals,
 * the per-stream-type coefficients, the capacity and its binding resource, the limits epoch and the
 * window), as JSON, as CSV with units in every column name, or as a printable page (report.h). */

#include "api.h"

int api_route_report(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);
