#pragma once
/* Small helpers shared by both binaries: cleanup attributes, ownership transfer, array sizes.
 * Modelled on systemd's src/basic/macro.h: ownership is visible in the code, not in comments. */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _pure_ __attribute__((pure))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define STRLEN(s) (sizeof(s) - 1)
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x) /* a macro's value as a string literal */
#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)

/* Hand the pointer (or fd) over and leave the source empty, so the cleanup handler skips it. */
#define TAKE_PTR(p) __extension__ \
        ({                                                                                                   \
                __typeof__(p) _p_ = (p);                                                                     \
                (p) = NULL;                                                                                  \
                _p_;                                                                                         \
        })
#define TAKE_FD(fd) __extension__ \
        ({                                                                                                   \
                int _fd_ = (fd);                                                                             \
                (fd) = -EBADF;                                                                               \
                _fd_;                                                                                        \
        })

/* Defines a function usable with _cleanup_ that calls func(*p) when *p is not NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p)                                                                  \
        {                                                                                                    \
                if (*p)                                                                                      \
                        func(*p);                                                                            \
        }

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Closes fd if it is valid; returns -EBADF so that "fd = safe_close(fd);" resets it. */
static inline int safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                (void)close(fd);
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd)
{
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Returns -errno of the last failed libc call, never 0 (a libc bug leaving errno 0 becomes -EIO). */
static inline int negative_errno(void)
{
        return errno > 0 ? -errno : -EIO;
}

#define RET_NERRNO(expr) __extension__ \
        ({                                                                                                   \
                int _r_ = (expr);                                                                            \
                _r_ < 0 ? negative_errno() : _r_;                                                            \
        })

static inline bool isempty(const char *s)
{
        return !s || !*s;
}

static inline const char *strempty(const char *s)
{
        return s ? s : "";
}

static inline const char *strna(const char *s)
{
        return s ? s : "n/a";
}
