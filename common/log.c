/* See log.h. Kept deliberately small: no threads of our own log concurrently except the HTTP workers,
 * and a single fprintf/sd_journal_send per message is atomic enough for line-oriented output. */

#include <stdarg.h>
#include <sys/stat.h>

#include <systemd/sd-journal.h>

#include "log.h"

static const char *log_ident = "seatmeter";
static int log_max_level = LOG_INFO;
static int log_journal = -1; /* -1: undecided */

/* stderr goes to the journal when JOURNAL_STREAM names the device:inode of our stderr (sd_journal(3)). */
static bool stderr_is_journal(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_open(const char *ident)
{
        const char *e;

        if (ident)
                log_ident = ident;
        if (log_journal < 0)
                log_journal = stderr_is_journal();
        e = getenv("SEATMETER_LOG_LEVEL");
        if (e) {
                static const char *const names[] = {"emerg", "alert", "crit",   "err",
                                                    "warning", "notice", "info", "debug"};
                for (size_t i = 0; i < ELEMENTSOF(names); i++)
                        if (streq(e, names[i]))
                                log_max_level = (int)i;
        }
}

void log_set_max_level(int level)
{
        log_max_level = level;
}

int log_get_max_level(void)
{
        return log_max_level;
}

void log_set_journal(bool on)
{
        log_journal = on;
}

int log_internal(int level, int error, const char *field, const char *value, const char *file, int line,
                 const char *fmt, ...)
{
        char buf[2048];
        va_list ap;

        error = abs(error);
        errno = error; /* so %m works */
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);

        if (log_journal > 0) {
                if (field && value)
                        sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%i", level, "SYSLOG_IDENTIFIER=%s",
                                        log_ident, "CODE_FILE=%s", file, "CODE_LINE=%i", line, "%s=%s", field,
                                        value, error ? "ERRNO=%i" : NULL, error, NULL);
                else
                        sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%i", level, "SYSLOG_IDENTIFIER=%s",
                                        log_ident, "CODE_FILE=%s", file, "CODE_LINE=%i", line,
                                        error ? "ERRNO=%i" : NULL, error, NULL);
        } else
                fprintf(stderr, "%s: %s\n", log_ident, buf);

        return -error;
}
