/* See label.h. */

#include <stdio.h>
#include <stdlib.h>

#include "label.h"

bool label_key_is_valid(const char *key)
{
        size_t n;

        if (!key)
                return false;
        n = strlen(key);
        if (n < 1 || n > LABEL_KEY_MAX)
                return false;
        if (!((key[0] >= 'A' && key[0] <= 'Z') || (key[0] >= 'a' && key[0] <= 'z') || key[0] == '_'))
                return false;
        return strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* Length of the UTF-8 sequence at s (1..4), or 0 when it is not well formed. */
static size_t utf8_sequence(const unsigned char *s)
{
        uint32_t cp;
        size_t len;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                len = 2;
                cp = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                len = 3;
                cp = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                len = 4;
                cp = s[0] & 0x07;
        } else
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        /* C1 controls (U+0080..U+009F) are control characters too. */
        if (cp >= 0x80 && cp <= 0x9f)
                return 0;
        return len;
}

bool label_value_is_valid(const char *value)
{
        const unsigned char *s = (const unsigned char *)value;

        if (!value || strlen(value) > LABEL_VALUE_MAX)
                return false;
        while (*s) {
                size_t n;

                if (*s < 0x20 || *s == 0x7f)
                        return false;
                n = utf8_sequence(s);
                if (n == 0)
                        return false;
                s += n;
        }
        return true;
}

int labels_add_assignment(Labels *labels, const char *assignment, const char **ret_reason)
{
        const char *eq;
        size_t klen;
        Label l = {0};

        assert(labels);
        assert(assignment);

        eq = strchr(assignment, '=');
        if (!eq) {
                if (ret_reason)
                        *ret_reason = "expected key=value";
                return -EINVAL;
        }
        klen = (size_t)(eq - assignment);
        if (klen > LABEL_KEY_MAX) {
                if (ret_reason)
                        *ret_reason = "the key is longer than " STRINGIFY(LABEL_KEY_MAX) " bytes";
                return -EINVAL;
        }
        memcpy(l.key, assignment, klen);
        l.key[klen] = 0;
        if (!label_key_is_valid(l.key)) {
                if (ret_reason)
                        *ret_reason = "the key must match [A-Za-z_][A-Za-z0-9_]*";
                return -EINVAL;
        }
        if (!label_value_is_valid(eq + 1)) {
                if (ret_reason)
                        *ret_reason = "the value must be UTF-8 without control characters, at most "
                                      STRINGIFY(LABEL_VALUE_MAX) " bytes";
                return -EINVAL;
        }
        strcpy(l.value, eq + 1);
        for (unsigned i = 0; i < labels->n; i++)
                if (streq(labels->l[i].key, l.key)) {
                        if (ret_reason)
                                *ret_reason = "the key is given twice";
                        return -EEXIST;
                }
        if (labels->n >= LABELS_MAX) {
                if (ret_reason)
                        *ret_reason = "more than " STRINGIFY(LABELS_MAX) " labels";
                return -E2BIG;
        }
        labels->l[labels->n++] = l;
        return 0;
}

static int label_cmp(const void *a, const void *b)
{
        return strcmp(((const Label *)a)->key, ((const Label *)b)->key);
}

static bool put(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
        if (n >= size - *len)
                return false;
        memcpy(buf + *len, s, n);
        *len += n;
        buf[*len] = 0;
        return true;
}

static bool put_string(char *buf, size_t size, size_t *len, const char *s)
{
        if (!put(buf, size, len, "\"", 1))
                return false;
        for (; *s; s++) {
                bool ok = *s == '"' || *s == '\\' ? put(buf, size, len, "\\", 1) && put(buf, size, len, s, 1)
                                                  : put(buf, size, len, s, 1);
                if (!ok)
                        return false;
        }
        return put(buf, size, len, "\"", 1);
}

int labels_to_json(const Labels *labels, char *buf, size_t size)
{
        Label sorted[LABELS_MAX];
        unsigned n = MIN(labels->n, (unsigned)LABELS_MAX);
        size_t len = 0;

        assert(buf);
        if (size == 0)
                return -ENOBUFS;
        buf[0] = 0;
        memcpy(sorted, labels->l, n * sizeof(Label));
        qsort(sorted, n, sizeof(Label), label_cmp);
        if (!put(buf, size, &len, "{", 1))
                return -ENOBUFS;
        for (unsigned i = 0; i < n; i++)
                if ((i > 0 && !put(buf, size, &len, ",", 1)) || !put_string(buf, size, &len, sorted[i].key) ||
                    !put(buf, size, &len, ":", 1) || !put_string(buf, size, &len, sorted[i].value))
                        return -ENOBUFS;
        if (!put(buf, size, &len, "}", 1))
                return -ENOBUFS;
        return (int)len;
}
