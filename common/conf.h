#pragma once
/* One table-driven engine for settings, shared by the daemon's config file and the agent's [agent]
 * section and command line. A program declares one table of ConfKey rows (section, key, type, where the
 * value lives in its struct, default, bounds, long option, help); this module turns text into values
 * the same way wherever the text comes from (a file line, a command-line option, a built-in default),
 * prints the effective values back in the form they are read, and builds getopt's long options and the
 * option help from the same rows, so nothing is indexed or listed by hand a second time.
 *
 * What a file looks like (sections, names in headers) and how errors are worded stays with the program:
 * every setter returns -errno with a short static reason, and the caller prints it with its file:line. */

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct ConfKey ConfKey;

typedef enum ConfType {
        CONF_STRING, /* char[size] inside the struct */
        CONF_STRDUP, /* char * owned by the struct (NULL: unset), at most size - 1 bytes; conf_done() frees */
        CONF_UINT,   /* unsigned within [min, max] */
        CONF_U64,    /* uint64_t within [min, max] */
        CONF_DOUBLE, /* a finite double within [min, max] ((min, max] with CONF_ABOVE_MIN) */
        CONF_BOOL,   /* bool; set by a long option that takes no argument, or yes/no/true/false/1/0 */
        CONF_CUSTOM, /* k->parse turns text into a value, k->format prints it */
} ConfType;

typedef enum ConfFlags {
        CONF_NOT_EMPTY = 1 << 0,   /* strings: an empty value is refused */
        CONF_EMPTY_UNSET = 1 << 1, /* CONF_DOUBLE: an empty value stores NAN ("not set") */
        CONF_ABOVE_MIN = 1 << 2,   /* numbers: min itself is refused */
        CONF_REPEAT = 1 << 3,      /* repeated lines or options add up (the long option may repeat) */
} ConfFlags;

/* Parses value into the setting k of the struct at base. userdata is the caller's (the whole
 * configuration, for settings that span fields). Returns 0, or -errno with a static reason in *ret_why. */
typedef int (*ConfParse)(const ConfKey *k, void *base, const char *value, void *userdata, const char **ret_why);
/* Prints the setting as whole "key = value" lines, as a file would set it. */
typedef void (*ConfFormat)(const ConfKey *k, const void *base, const void *userdata, FILE *f);

struct ConfKey {
        const char *section; /* the section (kind) the key belongs to: "daemon", "bbb", "agent", ... */
        const char *name;    /* as written in the file */
        ConfType type;
        ConfFlags flags;
        size_t offset;       /* of the field in the section's struct */
        size_t size;         /* CONF_STRING, CONF_STRDUP: bytes including the NUL */
        const char *def;     /* the built-in default as text; NULL: none (computed or required elsewhere) */
        double min, max;     /* numbers */
        const char *why;     /* the reason given for a refused value, in place of the type's own */
        ConfParse parse;     /* CONF_CUSTOM */
        ConfFormat format;   /* CONF_CUSTOM; NULL: conf_dump() leaves it out */
        const char *option;  /* the long option (without "--") setting the same value; NULL: file only */
        const char *arg;     /* the option's argument in help text: "URI", "MS"; NULL for CONF_BOOL */
        const char *help;    /* one line of option help; conf_help() appends " (default DEF)" */
};

/* The offset and size of a field of struct type T, for a ConfKey; CONF_OFFSET for a CONF_STRDUP field,
 * whose size (the longest string + 1) is the row's own. */
#define CONF_FIELD(T, field) .offset = offsetof(T, field), .size = sizeof(((T *)0)->field)
#define CONF_OFFSET(T, field) .offset = offsetof(T, field)

/* Where the setting k of the struct at base lives. */
static inline void *conf_field(const ConfKey *k, void *base)
{
        return (char *)base + k->offset;
}
static inline const void *conf_field_const(const ConfKey *k, const void *base)
{
        return (const char *)base + k->offset;
}

/* The key called name in section, or NULL. */
const ConfKey *conf_find(const ConfKey *keys, size_t n_keys, const char *section, const char *name);

/* Sets one setting from text, checked by its type, bounds and flags. On error the field is unchanged and
 * the result is -EINVAL (not of the type), -ERANGE (out of bounds), -ENAMETOOLONG (too long for its
 * field), -ENOMEM, or what a CONF_CUSTOM parser returns; *ret_why says why in a few words. */
int conf_set(const ConfKey *k, void *base, const char *value, void *userdata, const char **ret_why);

/* Applies the built-in default of every key of section that has one to the struct at base. Returns 0, or
 * the first error (a wrong default is a programming error; it is logged). */
int conf_apply_defaults(const ConfKey *keys, size_t n_keys, const char *section, void *base, void *userdata);

/* Prints every key of section of the struct at base as "key = value" lines, in table order. Strings
 * print as they are, numbers in the form they are read, an unset CONF_STRDUP or CONF_EMPTY_UNSET double
 * as "key =". */
void conf_dump(const ConfKey *keys, size_t n_keys, const char *section, const void *base, const void *userdata,
               FILE *f);

/* Frees what the keys of section own in the struct at base (CONF_STRDUP strings) and sets them to NULL. */
void conf_done(const ConfKey *keys, size_t n_keys, const char *section, void *base);

/* getopt_long() values of the options made from table rows: CONF_OPTION_BASE + the row's index. */
#define CONF_OPTION_BASE 0x1000

/* Fills options (n_options entries, including the terminating zero entry) with the long options of
 * section's keys that have one (in table order, val = CONF_OPTION_BASE + index), followed by extra
 * (n_extra entries, the program's own: --help, --config). Returns 0, or -ENOBUFS when they do not fit. */
int conf_options(const ConfKey *keys, size_t n_keys, const char *section, const struct option *extra,
                 size_t n_extra, struct option *options, size_t n_options);

/* The key of a getopt_long() result made by conf_options(), or NULL for another value. */
const ConfKey *conf_option_key(const ConfKey *keys, size_t n_keys, int opt);

/* Prints the help of section's options, one "  --option ARG  help (default DEF)" line each, aligned at
 * column column. */
void conf_help(const ConfKey *keys, size_t n_keys, const char *section, int column, FILE *f);

/* Sections are "[kind]" or "[kind NAME]" with NAME up to ID_MAX bytes; a longer header is refused. */
#define CONF_SECTION_MAX 80
#define CONF_FILE_MAX (1024 * 1024)

/* One "key = value" line of an INI file, with where it stands. */
typedef struct ConfLine {
        const char *path;
        unsigned line;
        const char *section;   /* the header as written, whole (libinih's own copy is cut at 50 bytes), trimmed */
        unsigned section_line; /* the header's line; 0 before the first header */
        const char *key;
        const char *value;
} ConfLine;

/* Takes one line. Returns 0, or <0 for a bad line it has logged (as "PATH:LINE: ..."). */
typedef int (*ConfLineHandler)(const ConfLine *l, void *userdata);

/* Reads the INI file at path (libinih: ";" and "#" comments, "key = value", "[section]") and hands each
 * key line to handler. Every problem is logged with the file and line and reading goes on, so one run
 * reports every bad line: lines longer than libinih's buffer, section headers over CONF_SECTION_MAX (their
 * keys are skipped), the first syntax error libinih finds, and what handler refuses; their number goes to
 * *ret_errors. Returns 0, or -errno (logged) when the file cannot be read at all: missing, not a regular
 * file, larger than CONF_FILE_MAX. */
int conf_parse_file(const char *path, ConfLineHandler handler, void *userdata, unsigned *ret_errors);
