#pragma once
/* What the shipped Zabbix template reads (docs/zabbix.md): discovery of agents and BBB servers, one
 * object per agent, per BBB server and for the daemon itself. Unknown values are left out, never null,
 * and a sample older than the zabbix_max_age_s setting is not served as current. */

#include "api.h"

#define API_ZABBIX_MAX_AGE_DEFAULT_MS (60LL * 1000) /* the zabbix_max_age_s setting's default */

int api_route_zabbix_discovery(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);
int api_route_zabbix_agent(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);
int api_route_zabbix_bbb_discovery(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);
int api_route_zabbix_bbb(Query *q, const ApiRequest *req, const char *name, ApiResponse *ret);
/* The daemon's own health; q may be NULL (then db_ok is 0). */
int api_route_zabbix_daemon(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);
