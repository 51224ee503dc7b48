#pragma once
/* Logging for both binaries. Under systemd (stderr connected to the journal, as JOURNAL_STREAM says)
 * messages go to the journal with structured fields; otherwise to stderr, one line each.
 *
 * log_*_errno(r, ...) logs and returns -abs(r), so "return log_error_errno(r, "...: %m");" reports and
 * propagates in one statement. %m in the format expands to strerror(abs(r)). */

#include <syslog.h>

#include "macro.h"

void log_open(const char *ident);
void log_set_max_level(int level);
int log_get_max_level(void);
/* Force or forbid the journal (tests); by default log_open() decides from JOURNAL_STREAM. */
void log_set_journal(bool on);

/* field is a journal field name such as "AGENT" (or NULL), value its value. Returns -abs(error). */
int log_internal(int level, int error, const char *field, const char *value, const char *file, int line,
                 const char *fmt, ...) _printf_(7, 8);

#define log_full_errno_field(level, error, field, value, ...)                                                \
        __extension__({                                                                                                   \
                int _level_ = (level), _e_ = (error);                                                        \
                _level_ <= log_get_max_level()                                                               \
                        ? log_internal(_level_, _e_, field, value, __FILE__, __LINE__, __VA_ARGS__)          \
                        : -abs(_e_);                                                                         \
        })
#define log_full_errno(level, error, ...) log_full_errno_field(level, error, NULL, NULL, __VA_ARGS__)
#define log_full(level, ...) (void)log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_notice_errno(e, ...) log_full_errno(LOG_NOTICE, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)

/* With a journal field: log_agent(LOG_INFO, 0, id, "connected") adds AGENT=id. */
#define log_agent(level, e, id, ...) log_full_errno_field(level, e, "AGENT", id, __VA_ARGS__)
#define log_bbb(level, e, name, ...) log_full_errno_field(level, e, "BBB", name, __VA_ARGS__)

/* Returns -ENOMEM after logging it, for "if (!p) return log_oom();". */
#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
