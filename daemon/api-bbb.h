#pragma once
/* The BBB servers polled: their newest poll (up, counts, error). */

#include "api.h"

int api_route_bbb(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);

/* A JSON array with what append adds for each BBB server. Shared with the Zabbix discovery. */
int api_bbb_array(Query *q, QueryBbbCb append, ApiResponse *ret);
