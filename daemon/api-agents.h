#pragma once
/* The agents' routes: every agent known, one agent (what it announced in its Hello and its limits), and
 * its newest sample (from the live table when it has it: dashboards poll that route hardest). Also the
 * agent look-up the other per-agent routes share. */

#include "api.h"

/* The list: one object per agent, in the order of the agents table. No arguments. */
int api_route_agents(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);
/* Agent id with its newest sample's time. No arguments. */
int api_route_agent(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);
/* The newest sample of agent id, every value null when it has none yet. No arguments. */
int api_route_latest(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret);

/* A JSON array with what append adds for each agent. Shared with the Zabbix discovery. */
int api_agents_array(Query *q, QueryAgentCb append, ApiResponse *ret);
/* Looks agent id up into *ret_agent; answers 400 (invalid id), 404 (unknown) or 503 itself and returns < 0
 * then. */
int api_find_agent(Query *q, const char *id, QueryAgent *ret_agent, ApiResponse *ret);
/* api_find_agent() and the agent's newest sample: 1 with *ret_latest, 0 when it has none yet; < 0 (as
 * api_failed()) with the error answered. */
int api_find_agent_latest(Query *q, const char *id, QueryAgent *ret_agent, QuerySample *ret_latest,
                          ApiResponse *ret);
/* The agent's labels as stored (a JSON object the store wrote), {} when unknown or unreadable. A new
 * reference, NULL when out of memory. */
json_t *api_agent_labels_json(const QueryAgent *a);
