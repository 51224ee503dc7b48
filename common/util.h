#pragma once
/* File, number and time helpers used by both binaries. */

#include <time.h>

#include "macro.h"

#define USEC_PER_SEC 1000000ULL
#define USEC_PER_MSEC 1000ULL
#define NSEC_PER_USEC 1000ULL
#define MSEC_PER_SEC 1000ULL

/* Reads the whole file name (relative to dirfd, or absolute) into a NUL-terminated buffer owned by the
 * caller. Files larger than max bytes give -EFBIG. Works on procfs/cgroupfs files whose st_size is 0. */
int read_full_file_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_size);

/* Reads at most size-1 bytes of an already open file from offset 0 with pread() into buf and
 * NUL-terminates it; the hot-path reader (no allocation). Returns the length, or -errno; -EFBIG when the
 * file did not fit. */
ssize_t pread_full(int fd, char *buf, size_t size);

/* Writes data to path atomically (temporary file, fsync, rename), mode 0600. */
int write_file_atomic(const char *path, const void *data, size_t size);

/* Parses an unsigned decimal number, allowing surrounding whitespace; -EINVAL on garbage, -ERANGE on
 * overflow. */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atoi64(const char *s, int64_t *ret);
int safe_atou(const char *s, unsigned *ret);
int safe_atod(const char *s, double *ret);

/* Current time of the given clock. */
uint64_t now_usec(clockid_t clock);
static inline int64_t now_ms(void)
{
        return (int64_t)(now_usec(CLOCK_REALTIME) / USEC_PER_MSEC);
}

/* Strips leading and trailing whitespace in place and returns the start. */
char *strstrip(char *s);

/* Hex encoding of size bytes into ret, which must hold 2*size+1 bytes. */
void hexencode(const uint8_t *data, size_t size, char *ret);

/* Constant-time comparison of two buffers of equal length. */
bool memeq_consttime(const void *a, const void *b, size_t size);

/* FNV-1a of a NUL-terminated string: for hash tables keyed by ids the daemon itself validated. */
static inline uint32_t string_hash(const char *s)
{
        uint32_t h = 2166136261u;

        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * 16777619u;
        return h;
}

/* Makes room for at least need elements of size bytes in the array *p, which holds *allocated
 * elements. Grows to twice the current allocation, or to need if that is more, and to at least as
 * many elements as fit in 64 bytes, so appending one element at a time costs amortised O(1). On
 * success updates *p and *allocated and returns 0; on failure (-ENOMEM, also when the size would
 * overflow) leaves both unchanged. */
int greedy_realloc(void **p, size_t *allocated, size_t need, size_t size);

/* greedy_realloc() for an array that may never hold more than max elements: grows the same way but
 * never beyond max. Returns 0, -E2BIG when need is above max (nothing changed), or -ENOMEM. Use it for
 * every buffer whose size outside input decides. */
int greedy_realloc_capped(void **p, size_t *allocated, size_t need, size_t max, size_t size);

/* greedy_realloc() for a typed array: GREEDY_REALLOC(s->items, s->alloc_items, s->n_items + 1). The
 * element size comes from the array, and array is written only on success. */
#define GREEDY_REALLOC(array, allocated, need) __extension__ \
        ({                                                                                                   \
                void *_a_ = (array);                                                                         \
                int _r_ = greedy_realloc(&_a_, &(allocated), (need), sizeof((array)[0]));                    \
                if (_r_ >= 0)                                                                                \
                        (array) = _a_;                                                                       \
                _r_;                                                                                         \
        })

/* greedy_realloc_capped() for a typed array, as GREEDY_REALLOC(). */
#define GREEDY_REALLOC_CAPPED(array, allocated, need, max) __extension__ \
        ({                                                                                                   \
                void *_a_ = (array);                                                                         \
                int _r_ = greedy_realloc_capped(&_a_, &(allocated), (need), (max), sizeof((array)[0]));      \
                if (_r_ >= 0)                                                                                \
                        (array) = _a_;                                                                       \
                _r_;                                                                                         \
        })
