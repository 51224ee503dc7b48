/* How the HTTP API writes values (api-format.h): JSON through jansson, the series row writer, numbers, CSV.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api-format.h"
#include "util.h"

json_t *api_json_number(double v)
{
        return isfinite(v) ? json_real(v) : json_null();
}

json_t *api_json_integer(double v)
{
        return isfinite(v) ? json_integer((json_int_t)v) : json_null();
}

json_t *api_json_column(QueryColumn c, double v)
{
        return query_column_is_integer(c) ? api_json_integer(v) : api_json_number(v);
}

json_t *api_json_text(const char *s)
{
        if (isempty(s))
                return json_null();
        json_t *j = json_string(s);
        return j ? j : json_null();
}

json_t *api_json_text_or_empty(const char *s)
{
        json_t *j = json_string(s);
        return j ? j : json_string("");
}

int api_json_set(json_t *o, const char *key, json_t *v)
{
        if (!v)
                return -ENOMEM;
        return json_object_set_new_nocheck(o, key, v) < 0 ? -ENOMEM : 0;
}

int api_json_set_columns(json_t *o, const QueryColumn *columns, size_t n, const QuerySample *s)
{
        for (size_t i = 0; i < n; i++) {
                QueryColumn c = columns[i];

                if (api_json_set(o, query_column_to_string(c),
                                 s ? api_json_column(c, s->v[c]) : json_null()) < 0)
                        return -ENOMEM;
        }
        return 0;
}

json_t *api_json_interval(double lo, double hi)
{
        if (!isfinite(lo) && !isfinite(hi))
                return json_null();
        return json_pack("[o,o]", api_json_number(lo), api_json_number(hi));
}

static bool jb_reserve(ApiJsonBuf *b, size_t n)
{
        size_t k;
        char *p;

        if (b->oom)
                return false;
        if (b->size + n + 1 <= b->allocated)
                return true;
        k = MAX(b->allocated * 2, b->size + n + 1);
        k = MAX(k, (size_t)4096);
        if (k > API_JSON_BUF_MAX || !(p = realloc(b->data, k))) {
                b->oom = true;
                return false;
        }
        b->data = p;
        b->allocated = k;
        return true;
}

void api_jb_put(ApiJsonBuf *b, const char *s, size_t n)
{
        if (!jb_reserve(b, n))
                return;
        memcpy(b->data + b->size, s, n);
        b->size += n;
        b->data[b->size] = 0;
}

void api_jb_puts(ApiJsonBuf *b, const char *s)
{
        api_jb_put(b, s, strlen(s));
}

static size_t format_uint(uint64_t v, char *buf)
{
        char tmp[24];
        size_t n = 0, i = 0;

        do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        while (n)
                buf[i++] = tmp[--n];
        buf[i] = 0;
        return i;
}

size_t api_format_double(double v, char *buf)
{
        static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9, 1e10,
                                       1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20};
        char digits[24];
        size_t n = 0, nd, i;
        uint64_t m;
        double a;
        int e;

        if (!isfinite(v)) {
                strcpy(buf, "null");
                return 4;
        }
        if (v < 0)
                buf[n++] = '-';
        a = fabs(v);
        if (a == 0) {
                buf[0] = '0';
                buf[1] = 0;
                return 1;
        }
        if (a < 9007199254740992.0 && a == floor(a))
                return n + format_uint((uint64_t)a, buf + n);

        /* 15 significant digits: m = a * 10^(14 - e), 10^14 <= m < 10^15. Outside the plain range, or
         * when rounding leaves the window, printf does it. */
        e = (int)floor(log10(a));
        for (int tries = 0; tries < 2; tries++) {
                if (e < -6 || e > 14)
                        return (size_t)snprintf(buf, API_DOUBLE_MAX, "%.15g", v);
                m = (uint64_t)llround(a * pow10[14 - e]);
                if (m >= 1000000000000000ULL)
                        e++;
                else if (m < 100000000000000ULL)
                        e--;
                else
                        goto digits;
        }
        return (size_t)snprintf(buf, API_DOUBLE_MAX, "%.15g", v);

digits:
        nd = format_uint(m, digits);
        while (nd > 1 && digits[nd - 1] == '0')
                nd--;
        if (e >= 0) {
                for (i = 0; i <= (size_t)e; i++)
                        buf[n++] = i < nd ? digits[i] : '0';
                if (nd > (size_t)e + 1) {
                        buf[n++] = '.';
                        for (; i < nd; i++)
                                buf[n++] = digits[i];
                }
        } else {
                buf[n++] = '0';
                buf[n++] = '.';
                for (int z = -1; z > e; z--)
                        buf[n++] = '0';
                for (i = 0; i < nd; i++)
                        buf[n++] = digits[i];
        }
        buf[n] = 0;
        return n;
}

void api_jb_double(ApiJsonBuf *b, double v)
{
        char tmp[API_DOUBLE_MAX];

        api_jb_put(b, tmp, api_format_double(v, tmp));
}

void api_jb_int(ApiJsonBuf *b, int64_t v)
{
        char tmp[24];
        size_t n = 0;

        if (v < 0) {
                tmp[n++] = '-';
                n += format_uint((uint64_t)0 - (uint64_t)v, tmp + n);
        } else
                n = format_uint((uint64_t)v, tmp);
        api_jb_put(b, tmp, n);
}

void api_csv_field(FILE *f, const char *s)
{
        if (!s[strcspn(s, ",\"\r\n")]) {
                fputs(s, f);
                return;
        }
        fputc('"', f);
        for (; *s; s++) {
                if (*s == '"')
                        fputc('"', f);
                fputc(*s, f);
        }
        fputc('"', f);
}

void api_csv_number(FILE *f, double v)
{
        if (isfinite(v))
                fprintf(f, "%.15g", v);
}

void api_csv_numbers(FILE *f, const double *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                fputc(',', f);
                api_csv_number(f, v[i]);
        }
}
