#pragma once
/* The daemon's own state: the health probe, what it runs on, and the Prometheus exposition. */

#include "api.h"

/* {"status":"ok"}, or 503 with the reason while the store cannot commit. Needs no database (q unused). */
int api_route_healthz(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);
/* Version, config file and database path. Needs no database (q unused). */
int api_route_status(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);
/* /metrics (metrics.h). Arguments are ignored rather than failing a scrape. */
int api_route_metrics(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);
