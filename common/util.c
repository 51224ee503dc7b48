/* See util.h. */

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>

#include "util.h"

int read_full_file_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_size)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 4096;

        assert(name);
        assert(ret);

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();

        buf = malloc(alloc);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (size + 1 >= alloc) {
                        /* Room for one more byte and the NUL. The cap leaves room for a byte past max, so
                         * that a file of exactly max bytes is read to its end, not refused. */
                        int r = GREEDY_REALLOC_CAPPED(buf, alloc, size + 2, max + 2);
                        if (r < 0)
                                return r == -E2BIG ? -EFBIG : r;
                }
                n = read(fd, buf + size, alloc - size - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                size += (size_t)n;
                if (size > max)
                        return -EFBIG;
        }
        buf[size] = 0;
        if (ret_size)
                *ret_size = size;
        *ret = TAKE_PTR(buf);
        return 0;
}

ssize_t pread_full(int fd, char *buf, size_t size)
{
        size_t got = 0;

        assert(size > 0);
        for (;;) {
                ssize_t n = pread(fd, buf + got, size - 1 - got, (off_t)got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                got += (size_t)n;
                if (got >= size - 1) {
                        char c;
                        /* Full buffer: is there more? */
                        n = pread(fd, &c, 1, (off_t)got);
                        if (n > 0)
                                return -EFBIG;
                        break;
                }
        }
        buf[got] = 0;
        return (ssize_t)got;
}

int write_file_atomic(const char *path, const void *data, size_t size)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *p = data;
        size_t left = size;

        if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        while (left > 0) {
                ssize_t n = write(fd, p, left);
                if (n < 0) {
                        int r = negative_errno();
                        if (r == -EINTR)
                                continue;
                        (void)unlink(tmp);
                        return r;
                }
                p += n;
                left -= (size_t)n;
        }
        if (fsync(fd) < 0 || rename(tmp, path) < 0) {
                int r = negative_errno();
                (void)unlink(tmp);
                return r;
        }
        return 0;
}

#define NUMBER_BLANKS " \t\n"

/* Where the number in s starts (after leading blanks); NULL when s is NULL or blank. */
static const char *number_start(const char *s)
{
        if (!s)
                return NULL;
        s += strspn(s, NUMBER_BLANKS);
        return *s ? s : NULL;
}

/* The end check shared by the safe_ato*() parsers, given the errno of their strto*() call: digits
 * were read from start to end and only blanks follow. Returns 0, -ERANGE or -EINVAL. */
static int number_end_check(int error, const char *start, const char *end)
{
        if (error == ERANGE)
                return -ERANGE;
        if (end == start)
                return -EINVAL;
        end += strspn(end, NUMBER_BLANKS);
        return *end ? -EINVAL : 0;
}

int safe_atou64(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;
        int r;

        s = number_start(s);
        if (!s || *s == '-')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        r = number_end_check(errno, s, end);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

int safe_atoi64(const char *s, int64_t *ret)
{
        char *end;
        long long v;
        int r;

        s = number_start(s);
        if (!s)
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        r = number_end_check(errno, s, end);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

int safe_atou(const char *s, unsigned *ret)
{
        uint64_t v;
        int r = safe_atou64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT_MAX)
                return -ERANGE;
        *ret = (unsigned)v;
        return 0;
}

int safe_atod(const char *s, double *ret)
{
        char *end;
        double v;
        int r;

        s = number_start(s);
        if (!s)
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        r = number_end_check(errno, s, end);
        if (r < 0)
                return r;
        if (!isfinite(v))
                return -EINVAL;
        *ret = v;
        return 0;
}

uint64_t now_usec(clockid_t clock)
{
        struct timespec ts;

        (void)clock_gettime(clock, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

char *strstrip(char *s)
{
        char *e;

        s += strspn(s, " \t\r\n");
        e = s + strlen(s);
        while (e > s && strchr(" \t\r\n", e[-1]))
                e--;
        *e = 0;
        return s;
}

void hexencode(const uint8_t *data, size_t size, char *ret)
{
        static const char hex[] = "0123456789abcdef";

        for (size_t i = 0; i < size; i++) {
                ret[2 * i] = hex[data[i] >> 4];
                ret[2 * i + 1] = hex[data[i] & 15];
        }
        ret[2 * size] = 0;
}

bool memeq_consttime(const void *a, const void *b, size_t size)
{
        const volatile uint8_t *x = a, *y = b;
        uint8_t d = 0;

        for (size_t i = 0; i < size; i++)
                d |= x[i] ^ y[i];
        return d == 0;
}

int greedy_realloc_capped(void **p, size_t *allocated, size_t need, size_t max, size_t size)
{
        size_t n;
        void *q;

        assert(p);
        assert(allocated);
        assert(size > 0);

        if (need <= *allocated)
                return 0;
        if (need > max)
                return -E2BIG;
        if (need > SIZE_MAX / size)
                return -ENOMEM;

        n = need;
        if (*allocated <= SIZE_MAX / size / 2)
                n = MAX(n, *allocated * 2);
        n = MAX(n, 64 / size); /* a few small elements at once, not one at a time */
        n = MIN(n, max);       /* need <= max: still enough */

        q = realloc(*p, n * size);
        if (!q)
                return -ENOMEM;
        *p = q;
        *allocated = n;
        return 0;
}

int greedy_realloc(void **p, size_t *allocated, size_t need, size_t size)
{
        assert(size > 0);

        /* Without a cap of its own, an array is capped by what can be addressed. */
        if (need > SIZE_MAX / size)
                return -ENOMEM;
        return greedy_realloc_capped(p, allocated, need, SIZE_MAX / size, size);
}
