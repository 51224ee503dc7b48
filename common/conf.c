/* See conf.h. Text in, struct fields out; the one reader of files is conf_parse_file(). */

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>

#include "conf.h"
#include "log.h"
#include "util.h"

#define CONF_OPTION_WIDTH_MAX 64 /* "--" + option + " " + ARG in help text */

const ConfKey *conf_find(const ConfKey *keys, size_t n_keys, const char *section, const char *name)
{
        for (size_t i = 0; i < n_keys; i++)
                if (streq(keys[i].section, section) && streq(keys[i].name, name))
                        return &keys[i];
        return NULL;
}

static int conf_set_string(const ConfKey *k, void *field, const char *value, const char **ret_why)
{
        size_t n = strlen(value);

        if (n == 0 && (k->flags & CONF_NOT_EMPTY)) {
                *ret_why = "empty";
                return -EINVAL;
        }
        if (n >= k->size) {
                *ret_why = "value too long";
                return -ENAMETOOLONG;
        }
        if (k->type == CONF_STRING) {
                memcpy(field, value, n + 1);
                return 0;
        }
        char *copy = strdup(value);
        if (!copy) {
                *ret_why = "out of memory";
                return -ENOMEM;
        }
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
}

static bool conf_in_range(const ConfKey *k, double v)
{
        if (v < k->min || v > k->max)
                return false;
        return !((k->flags & CONF_ABOVE_MIN) && v <= k->min);
}

static int conf_set_number(const ConfKey *k, void *field, const char *value, const char **ret_why)
{
        uint64_t u;
        double d;
        int r;

        if (k->type == CONF_DOUBLE) {
                if (isempty(value) && (k->flags & CONF_EMPTY_UNSET)) {
                        *(double *)field = NAN;
                        return 0;
                }
                r = safe_atod(value, &d);
                if (r >= 0 && !conf_in_range(k, d))
                        r = -ERANGE;
                if (r < 0) {
                        *ret_why = "not a number within the allowed range";
                        return r;
                }
                *(double *)field = d;
                return 0;
        }
        r = safe_atou64(value, &u);
        if (r >= 0 && (!conf_in_range(k, (double)u) || (k->type == CONF_UINT && u > UINT_MAX)))
                r = -ERANGE;
        if (r < 0) {
                *ret_why = "not a number within the allowed range";
                return r;
        }
        if (k->type == CONF_UINT)
                *(unsigned *)field = (unsigned)u;
        else
                *(uint64_t *)field = u;
        return 0;
}

int conf_set(const ConfKey *k, void *base, const char *value, void *userdata, const char **ret_why)
{
        void *field = conf_field(k, base);
        const char *why = NULL;
        int r;

        assert(k);
        assert(base);
        assert(value);

        switch (k->type) {
        case CONF_STRING:
        case CONF_STRDUP:
                r = conf_set_string(k, field, value, &why);
                break;
        case CONF_UINT:
        case CONF_U64:
        case CONF_DOUBLE:
                r = conf_set_number(k, field, value, &why);
                break;
        case CONF_BOOL:
                r = 0;
                if (streq(value, "yes") || streq(value, "true") || streq(value, "1"))
                        *(bool *)field = true;
                else if (streq(value, "no") || streq(value, "false") || streq(value, "0"))
                        *(bool *)field = false;
                else {
                        why = "expected yes or no";
                        r = -EINVAL;
                }
                break;
        case CONF_CUSTOM:
                assert(k->parse);
                r = k->parse(k, base, value, userdata, &why);
                break;
        default:
                why = "internal error";
                r = -EINVAL;
        }
        if (r < 0 && ret_why)
                *ret_why = k->why && r != -ENOMEM ? k->why : why ? why : "invalid";
        return r;
}

int conf_apply_defaults(const ConfKey *keys, size_t n_keys, const char *section, void *base, void *userdata)
{
        int ret = 0;

        for (size_t i = 0; i < n_keys; i++) {
                const ConfKey *k = &keys[i];
                const char *why = NULL;
                int r;

                if (!k->def || !streq(k->section, section))
                        continue;
                r = conf_set(k, base, k->def, userdata, &why);
                if (r < 0) {
                        log_error("Built-in default %s=%s is invalid: %s", k->name, k->def, why);
                        if (ret == 0)
                                ret = r;
                }
        }
        return ret;
}

void conf_dump(const ConfKey *keys, size_t n_keys, const char *section, const void *base, const void *userdata,
               FILE *f)
{
        for (size_t i = 0; i < n_keys; i++) {
                const ConfKey *k = &keys[i];
                const void *field = conf_field_const(k, base);

                if (!streq(k->section, section))
                        continue;
                switch (k->type) {
                case CONF_STRING:
                        fprintf(f, "%s = %s\n", k->name, (const char *)field);
                        break;
                case CONF_STRDUP: {
                        const char *s = *(char *const *)field;
                        fprintf(f, "%s =%s%s\n", k->name, s ? " " : "", s ? s : "");
                        break;
                }
                case CONF_UINT:
                        fprintf(f, "%s = %u\n", k->name, *(const unsigned *)field);
                        break;
                case CONF_U64:
                        fprintf(f, "%s = %llu\n", k->name, (unsigned long long)*(const uint64_t *)field);
                        break;
                case CONF_DOUBLE: {
                        double d = *(const double *)field;
                        if (isfinite(d))
                                fprintf(f, "%s = %g\n", k->name, d);
                        else
                                fprintf(f, "%s =\n", k->name);
                        break;
                }
                case CONF_BOOL:
                        fprintf(f, "%s = %s\n", k->name, *(const bool *)field ? "yes" : "no");
                        break;
                case CONF_CUSTOM:
                        if (k->format)
                                k->format(k, base, userdata, f);
                        break;
                }
        }
}

void conf_done(const ConfKey *keys, size_t n_keys, const char *section, void *base)
{
        for (size_t i = 0; i < n_keys; i++)
                if (keys[i].type == CONF_STRDUP && streq(keys[i].section, section)) {
                        char **p = conf_field(&keys[i], base);
                        free(*p);
                        *p = NULL;
                }
}

int conf_options(const ConfKey *keys, size_t n_keys, const char *section, const struct option *extra,
                 size_t n_extra, struct option *options, size_t n_options)
{
        size_t n = 0;

        for (size_t i = 0; i < n_keys; i++) {
                if (!keys[i].option || !streq(keys[i].section, section))
                        continue;
                if (n + 1 >= n_options)
                        return -ENOBUFS;
                options[n++] = (struct option){
                        .name = keys[i].option,
                        .has_arg = keys[i].type == CONF_BOOL ? no_argument : required_argument,
                        .val = CONF_OPTION_BASE + (int)i,
                };
        }
        if (n + n_extra >= n_options)
                return -ENOBUFS;
        memcpy(options + n, extra, n_extra * sizeof *extra);
        options[n + n_extra] = (struct option){0};
        return 0;
}

const ConfKey *conf_option_key(const ConfKey *keys, size_t n_keys, int opt)
{
        if (opt < CONF_OPTION_BASE || (size_t)(opt - CONF_OPTION_BASE) >= n_keys)
                return NULL;
        return &keys[opt - CONF_OPTION_BASE];
}

void conf_help(const ConfKey *keys, size_t n_keys, const char *section, int column, FILE *f)
{
        for (size_t i = 0; i < n_keys; i++) {
                const ConfKey *k = &keys[i];
                char head[CONF_OPTION_WIDTH_MAX];

                if (!k->option || !k->help || !streq(k->section, section))
                        continue;
                (void)snprintf(head, sizeof head, "--%s%s%s", k->option, k->arg ? " " : "", k->arg ? k->arg : "");
                fprintf(f, "  %-*s %s", column - 3, head, k->help);
                if (k->def)
                        fprintf(f, " (default %s)", k->def);
                fputc('\n', f);
        }
}

typedef struct ConfReader {
        FILE *f;
        ConfLine l;
        ConfLineHandler handler;
        void *userdata;
        unsigned errors;
        char section[CONF_SECTION_MAX + 1];
        bool section_bad; /* already reported: its keys are skipped silently */
} ConfReader;

/* An fgets() for libinih that counts lines, refuses lines that do not fit its buffer, and keeps each
 * section header whole. */
static char *conf_reader_gets(char *str, int num, void *stream)
{
        ConfReader *rd = stream;
        const char *p, *close;
        size_t n;

        if (!fgets(str, num, rd->f))
                return NULL;
        rd->l.line++;
        n = strlen(str);
        if (n > 0 && str[n - 1] != '\n' && !feof(rd->f)) {
                int ch;
                log_error("%s:%u: line too long (at most %d bytes).", rd->l.path, rd->l.line, INI_MAX_LINE - 2);
                rd->errors++;
                while ((ch = fgetc(rd->f)) != EOF && ch != '\n')
                        ;
                strcpy(str, "\n");
                return str;
        }

        p = str + strspn(str, " \t");
        if (p[0] == '[' && (close = strchr(p, ']'))) {
                size_t len = (size_t)(close - p - 1);
                char *sec;

                rd->section_bad = false;
                rd->l.section_line = rd->l.line;
                if (len >= sizeof rd->section) {
                        log_error("%s:%u: section name too long.", rd->l.path, rd->l.line);
                        rd->errors++;
                        rd->section_bad = true;
                        rd->section[0] = 0;
                } else {
                        memcpy(rd->section, p + 1, len);
                        rd->section[len] = 0;
                        sec = strstrip(rd->section);
                        memmove(rd->section, sec, strlen(sec) + 1);
                }
        }
        return str;
}

static int conf_reader_line(void *user, const char *section, const char *key, const char *value)
{
        ConfReader *rd = user;

        if (rd->section_bad)
                return 1;
        rd->l.key = key;
        rd->l.value = value;
        if (rd->handler(&rd->l, rd->userdata) < 0)
                rd->errors++;
        return 1; /* keep going: every bad line is reported at once */
}

int conf_parse_file(const char *path, ConfLineHandler handler, void *userdata, unsigned *ret_errors)
{
        _cleanup_fclose_ FILE *f = NULL;
        ConfReader rd = {.handler = handler, .userdata = userdata, .l = {.path = path}};
        struct stat st;
        int r;

        assert(path);
        assert(handler);
        assert(ret_errors);

        f = fopen(path, "re");
        if (!f)
                return log_error_errno(errno, "Failed to open config file '%s': %m", path);
        if (fstat(fileno(f), &st) < 0)
                return log_error_errno(errno, "Failed to stat config file '%s': %m", path);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EINVAL, "Config file '%s' is not a regular file.", path);
        if (st.st_size > CONF_FILE_MAX)
                return log_error_errno(EFBIG, "Config file '%s' is larger than %d bytes.", path, CONF_FILE_MAX);
        rd.f = f;
        rd.l.section = rd.section;

        r = ini_parse_stream(conf_reader_gets, &rd, conf_reader_line, &rd);
        if (r > 0) {
                /* The line handler never fails, so this is a syntax error libinih found itself (no '=' on
                 * a line, an unclosed '['); it reports the first one. */
                log_error("%s:%d: syntax error (expected [section], key = value, or a ; comment).", path, r);
                rd.errors++;
        } else if (r < 0)
                return log_error_errno(ENOMEM, "Failed to parse '%s': %m", path);
        *ret_errors = rd.errors;
        return 0;
}
