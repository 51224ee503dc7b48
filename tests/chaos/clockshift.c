/* LD_PRELOAD library for the chaos tests: moves a process's wall clock. CLOCK_REALTIME (and its coarse
 * variant, and time()) is shifted by the number of milliseconds written in the file named by
 * $SEATMETER_CLOCK_SHIFT_FILE, read again at every call, so a test can set a guest's clock ahead and
 * back while the process runs. Monotonic clocks are left alone, as a real clock step leaves them. */

#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int clock_gettime(clockid_t clk, struct timespec *ts);
time_t time(time_t *ret);

static int64_t shift_ms(void)
{
        const char *path = getenv("SEATMETER_CLOCK_SHIFT_FILE");
        char buf[32] = {0};
        ssize_t n;
        int fd;

        if (!path)
                return 0;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        return n > 0 ? strtoll(buf, NULL, 10) : 0;
}

static int real_clock_gettime(clockid_t clk, struct timespec *ts)
{
        static int (*real)(clockid_t, struct timespec *);

        if (!real)
                *(void **)&real = dlsym(RTLD_NEXT, "clock_gettime");
        return real(clk, ts);
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
        int64_t ns;
        int r;

        r = real_clock_gettime(clk, ts);
        if (r != 0 || (clk != CLOCK_REALTIME && clk != CLOCK_REALTIME_COARSE))
                return r;
        ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + shift_ms() * 1000000;
        ts->tv_sec = (time_t)(ns / 1000000000);
        ts->tv_nsec = (long)(ns % 1000000000);
        return 0;
}

time_t time(time_t *ret)
{
        struct timespec ts;

        if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
                return (time_t)-1;
        if (ret)
                *ret = ts.tv_sec;
        return ts.tv_sec;
}
