#pragma once
/* Free labels an operator gives an agent (--label site=fra1): what the agent sends in Hello, what the
 * daemon checks, stores and serves. One grammar, checked alike on both sides:
 *
 *   key    [A-Za-z_][A-Za-z0-9_]{0,LABEL_KEY_MAX-1}   (a Prometheus label name, so a key can become one)
 *   value  0..LABEL_VALUE_MAX bytes of UTF-8 without control characters
 *
 * and at most LABELS_MAX labels, keys unique. */

#include "macro.h"

#define LABELS_MAX 16
#define LABEL_KEY_MAX 32
#define LABEL_VALUE_MAX 128
/* The longest JSON object of LABELS_MAX labels ({"k":"v",...}), with '"' and '\' escaped. */
#define LABELS_JSON_MAX (2 + LABELS_MAX * (LABEL_KEY_MAX + 2 * LABEL_VALUE_MAX + 6))

typedef struct Label {
        char key[LABEL_KEY_MAX + 1];
        char value[LABEL_VALUE_MAX + 1];
} Label;

typedef struct Labels {
        unsigned n;
        Label l[LABELS_MAX];
} Labels;

bool label_key_is_valid(const char *key);
/* Valid UTF-8 (no overlong forms or surrogates), no control characters, at most LABEL_VALUE_MAX bytes. */
bool label_value_is_valid(const char *value);

/* Parses "key=value" (the value may be empty, and may hold '=') and appends it to labels. Returns 0;
 * -EINVAL for a bad key or value (a message for the user in *ret_reason, static text); -EEXIST for a
 * key already there; -E2BIG beyond LABELS_MAX. labels is unchanged on error. */
int labels_add_assignment(Labels *labels, const char *assignment, const char **ret_reason);

/* Writes labels as a JSON object with keys in ascending byte order ({} for none) into buf. Returns the
 * length, or -ENOBUFS when buf is too small (LABELS_JSON_MAX + 1 always suffices for valid labels). */
int labels_to_json(const Labels *labels, char *buf, size_t size);
