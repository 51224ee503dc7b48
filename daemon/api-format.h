#pragma once
/* How the HTTP API writes values: JSON values through jansson (NaN, the SQL NULL of the query layer, as
 * null; text that is not UTF-8 as null), a fast writer for the thousands of numeric rows of a series,
 * numbers with at most 15 significant digits, and RFC 4180 CSV fields. Pure: no requests, no database. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "macro.h"
#include "query.h"

#define API_JSON_FLAGS                                                                                      \
        (JSON_COMPACT | JSON_REAL_PRECISION(15)) /* 15 digits: exact enough, no binary noise */

/* jansson provides json_decrefp(). */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* ---- JSON values (jansson) ----
 * Each returns a new reference, or NULL when out of memory. */

/* A number, or null for the NAN that stands for SQL NULL. */
json_t *api_json_number(double v);
/* An integer (v truncated), or null for NAN. */
json_t *api_json_integer(double v);
/* v as column c's type: an integer for integer columns, else a number; null for NAN. */
json_t *api_json_column(QueryColumn c, double v);
/* Text from the database may hold anything an agent sent: invalid UTF-8 is served as null rather than
 * breaking the whole answer. NULL and "" are null too. */
json_t *api_json_text(const char *s);
/* As api_json_text(), but "" where that gives null. */
json_t *api_json_text_or_empty(const char *s);
/* [lo, hi], an unbounded end as null (JSON has no infinity); null when both ends are unbounded. */
json_t *api_json_interval(double lo, double hi);

/* Sets o[key] = v, taking v (NULL: out of memory). Returns 0 or -ENOMEM. */
int api_json_set(json_t *o, const char *key, json_t *v);
/* Sets the n columns in o under their API names, from sample s (all null without one). Returns 0 or
 * -ENOMEM. */
int api_json_set_columns(json_t *o, const QueryColumn *columns, size_t n, const QuerySample *s);

/* ---- a fast JSON writer for series rows ----
 * A series answer is thousands of small rows of numbers: building it through jansson objects and
 * printf's exact float formatting was most of the cost of a cached 24-hour series. Keys written through
 * it are fixed ASCII names, so nothing is escaped. A failed growth sets oom and turns every later write
 * into a no-op: callers check oom once at the end. data is NUL-terminated, malloc'ed, owned by the
 * caller (free() it). */

#define API_JSON_BUF_MAX (256U * 1024 * 1024) /* a series answer is bounded by its row limit long before */

typedef struct ApiJsonBuf {
        char *data;
        size_t size, allocated;
        bool oom;
} ApiJsonBuf;

void api_jb_put(ApiJsonBuf *b, const char *s, size_t n);
void api_jb_puts(ApiJsonBuf *b, const char *s);
/* v as api_format_double() writes it. */
void api_jb_double(ApiJsonBuf *b, double v);
void api_jb_int(ApiJsonBuf *b, int64_t v);

/* ---- numbers ---- */

/* Writes v as a JSON number with at most 15 significant digits and no trailing zeros (null when not
 * finite) into buf (API_DOUBLE_MAX bytes); returns the length. Integers print exactly. */
#define API_DOUBLE_MAX 32
size_t api_format_double(double v, char *buf);

/* ---- CSV ---- */

/* s as an RFC 4180 field: quoted when it holds a comma, quote or line break. */
void api_csv_field(FILE *f, const char *s);
/* v with 15 significant digits; nothing (an empty field) when not finite. */
void api_csv_number(FILE *f, double v);
/* n numbers, each preceded by a comma (a row's text columns come first). */
void api_csv_numbers(FILE *f, const double *v, size_t n);
