/* See cgparse.h. The parsers walk the buffer line by line with explicit lengths and never write to it;
 * numbers are parsed digit by digit so that a value can never run into the next line. */

#include <ctype.h>
#include <math.h>

#include "cgparse.h"

/* v1 reports "no limit" as PAGE_COUNTER_MAX pages in bytes (9223372036854771712 with 4 KiB pages,
 * slightly less with 64 KiB pages); anything from 2^62 up is treated as unlimited. */
#define CG_V1_UNLIMITED_FLOOR (UINT64_C(1) << 62)

static const char *const controller_names[_CG_MAX] = {
        [CG_CPU] = "cpu",       [CG_CPUACCT] = "cpuacct", [CG_CPUSET] = "cpuset",
        [CG_MEMORY] = "memory", [CG_BLKIO] = "blkio",     [CG_UNIFIED] = "unified",
};

const char *cg_controller_name(CgController c)
{
        return (unsigned)c < _CG_MAX ? controller_names[c] : "?";
}

typedef struct Span {
        const char *p;
        size_t n;
} Span;

/* Next line of *cursor (without its newline); false at the end. */
static bool next_line(const char **cursor, Span *ret)
{
        const char *s = *cursor, *e;

        if (!s || !*s)
                return false;
        e = strchr(s, '\n');
        ret->p = s;
        ret->n = e ? (size_t)(e - s) : strlen(s);
        *cursor = e ? e + 1 : s + ret->n;
        return true;
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Next whitespace-separated word of *sp; false when none is left. */
static bool next_word(Span *sp, Span *ret)
{
        while (sp->n > 0 && is_space(*sp->p)) {
                sp->p++;
                sp->n--;
        }
        if (sp->n == 0)
                return false;
        ret->p = sp->p;
        while (sp->n > 0 && !is_space(*sp->p)) {
                sp->p++;
                sp->n--;
        }
        ret->n = (size_t)(sp->p - ret->p);
        return true;
}

static bool span_eq(Span s, const char *word)
{
        size_t n = strlen(word);
        return s.n == n && memcmp(s.p, word, n) == 0;
}

/* Parses exactly the digits of s. */
static int span_u64(Span s, uint64_t *ret)
{
        uint64_t v = 0;

        if (s.n == 0 || s.n > 20)
                return -EINVAL;
        for (size_t i = 0; i < s.n; i++) {
                unsigned d;
                if (s.p[i] < '0' || s.p[i] > '9')
                        return -EINVAL;
                d = (unsigned)(s.p[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

/* Parses a non-negative decimal with an optional fraction ("12.34"). */
static int span_udouble(Span s, double *ret)
{
        double v = 0, scale = 1;
        bool dot = false, digit = false;

        if (s.n == 0 || s.n > 40)
                return -EINVAL;
        for (size_t i = 0; i < s.n; i++) {
                char c = s.p[i];
                if (c == '.' && !dot) {
                        dot = true;
                        continue;
                }
                if (c < '0' || c > '9')
                        return -EINVAL;
                digit = true;
                if (dot) {
                        scale /= 10;
                        v += (c - '0') * scale;
                } else
                        v = v * 10 + (c - '0');
        }
        if (!digit || !isfinite(v))
                return -EINVAL;
        *ret = v;
        return 0;
}

static bool is_octal(char c)
{
        return c >= '0' && c <= '7';
}

/* Copies s into buf, decoding mountinfo's octal escapes (\040 for a space). */
static int span_unescape(Span s, char *buf, size_t size)
{
        size_t o = 0;

        for (size_t i = 0; i < s.n; i++) {
                char c = s.p[i];
                if (c == '\\' && i + 3 < s.n && is_octal(s.p[i + 1]) && is_octal(s.p[i + 2]) &&
                    is_octal(s.p[i + 3])) {
                        unsigned v = (unsigned)((s.p[i + 1] - '0') << 6 | (s.p[i + 2] - '0') << 3 |
                                                (s.p[i + 3] - '0'));
                        if (v > 255)
                                return -EINVAL;
                        c = (char)v;
                        i += 3;
                }
                if (c == 0)
                        return -EINVAL;
                if (o + 1 >= size)
                        return -ENAMETOOLONG;
                buf[o++] = c;
        }
        buf[o] = 0;
        return 0;
}

/* Is word listed in the comma-separated list s? */
static bool comma_list_has(Span s, const char *word)
{
        size_t n = strlen(word);
        const char *p = s.p, *end = s.p + s.n;

        while (p < end) {
                const char *c = memchr(p, ',', (size_t)(end - p));
                size_t len = c ? (size_t)(c - p) : (size_t)(end - p);
                if (len == n && memcmp(p, word, n) == 0)
                        return true;
                p += len + 1;
        }
        return false;
}

int cgparse_mountinfo(const char *buf, CgMounts *ret)
{
        CgMounts m = {0};
        const char *cur = buf;
        Span line;
        unsigned lines = 0;

        assert(ret);
        while (next_line(&cur, &line)) {
                Span w[6], fstype, source, superopts, sp = line;
                bool ok = true, dash = false;
                unsigned nopt = 0;

                if (++lines > CGPARSE_LINES_MAX)
                        return -E2BIG;
                for (size_t i = 0; i < ELEMENTSOF(w); i++)
                        if (!next_word(&sp, &w[i])) {
                                ok = false;
                                break;
                        }
                if (!ok)
                        continue;
                /* Optional fields up to the "-" separator. */
                while (next_word(&sp, &fstype)) {
                        if (span_eq(fstype, "-")) {
                                dash = true;
                                break;
                        }
                        if (++nopt > 64)
                                break;
                }
                if (!dash || !next_word(&sp, &fstype) || !next_word(&sp, &source) ||
                    !next_word(&sp, &superopts))
                        continue;

                if (span_eq(fstype, "cgroup2")) {
                        if (m.found[CG_UNIFIED])
                                continue;
                        if (span_unescape(w[3], m.root[CG_UNIFIED], AGENT_PATH_MAX) < 0 ||
                            span_unescape(w[4], m.point[CG_UNIFIED], AGENT_PATH_MAX) < 0)
                                continue;
                        m.found[CG_UNIFIED] = true;
                } else if (span_eq(fstype, "cgroup")) {
                        for (CgController c = 0; c < CG_UNIFIED; c++) {
                                if (m.found[c] || !comma_list_has(superopts, controller_names[c]))
                                        continue;
                                if (span_unescape(w[3], m.root[c], AGENT_PATH_MAX) < 0 ||
                                    span_unescape(w[4], m.point[c], AGENT_PATH_MAX) < 0)
                                        continue;
                                m.found[c] = true;
                        }
                }
        }
        *ret = m;
        return 0;
}

int cgparse_proc_cgroup(const char *buf, CgPaths *ret)
{
        CgPaths p = {0};
        const char *cur = buf;
        Span line;
        unsigned lines = 0;
        bool any = false;

        assert(ret);
        while (next_line(&cur, &line)) {
                const char *c1, *c2;
                Span ctrls, path;

                if (++lines > CGPARSE_LINES_MAX)
                        return -E2BIG;
                c1 = memchr(line.p, ':', line.n);
                if (!c1)
                        continue;
                c2 = memchr(c1 + 1, ':', (size_t)(line.p + line.n - c1 - 1));
                if (!c2)
                        continue;
                ctrls = (Span){c1 + 1, (size_t)(c2 - c1 - 1)};
                path = (Span){c2 + 1, (size_t)(line.p + line.n - c2 - 1)};
                if (path.n == 0 || path.p[0] != '/' || path.n >= AGENT_PATH_MAX ||
                    memchr(path.p, 0, path.n))
                        continue;
                if (ctrls.n == 0) {
                        memcpy(p.path[CG_UNIFIED], path.p, path.n);
                        p.path[CG_UNIFIED][path.n] = 0;
                        p.found[CG_UNIFIED] = any = true;
                        continue;
                }
                for (CgController c = 0; c < CG_UNIFIED; c++)
                        if (!p.found[c] && comma_list_has(ctrls, controller_names[c])) {
                                memcpy(p.path[c], path.p, path.n);
                                p.path[c][path.n] = 0;
                                p.found[c] = any = true;
                        }
        }
        if (!any)
                return -ENODATA;
        *ret = p;
        return 0;
}

int cgparse_map_path(const char *mount_root, const char *cgroup_path, char *ret, size_t size)
{
        size_t n;
        const char *rest;

        assert(mount_root && cgroup_path && ret);
        if (cgroup_path[0] != '/' || strstr(cgroup_path, "/..") || mount_root[0] != '/')
                return -EXDEV;
        if (streq(mount_root, "/"))
                rest = cgroup_path;
        else {
                n = strlen(mount_root);
                while (n > 1 && mount_root[n - 1] == '/')
                        n--;
                if (strncmp(cgroup_path, mount_root, n) != 0 || (cgroup_path[n] != 0 && cgroup_path[n] != '/'))
                        return -EXDEV;
                rest = cgroup_path[n] ? cgroup_path + n : "/";
        }
        if (strlen(rest) >= size)
                return -ENAMETOOLONG;
        strcpy(ret, rest);
        return 0;
}

unsigned cpu_set_count(const CpuSet *c)
{
        unsigned n = 0;
        for (size_t i = 0; i < ELEMENTSOF(c->bits); i++)
                n += (unsigned)__builtin_popcountll(c->bits[i]);
        return n;
}

int cgparse_cpu_list(const char *s, CpuSet *ret)
{
        CpuSet set = {0};
        Span sp = {s, strlen(s)};

        /* Trailing newline and blanks are fine. */
        while (sp.n > 0 && (is_space(sp.p[sp.n - 1]) || sp.p[sp.n - 1] == '\n'))
                sp.n--;
        while (sp.n > 0 && is_space(*sp.p)) {
                sp.p++;
                sp.n--;
        }
        for (const char *p = sp.p, *end = sp.p + sp.n; p < end;) {
                const char *comma = memchr(p, ',', (size_t)(end - p)), *dash;
                size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
                uint64_t a, b;
                int r;

                dash = memchr(p, '-', len);
                if (dash) {
                        r = span_u64((Span){p, (size_t)(dash - p)}, &a);
                        if (r >= 0)
                                r = span_u64((Span){dash + 1, (size_t)(p + len - dash - 1)}, &b);
                } else {
                        r = span_u64((Span){p, len}, &a);
                        b = a;
                }
                if (r < 0)
                        return -EINVAL;
                if (a > b)
                        return -EINVAL;
                if (b >= CGPARSE_CPU_MAX)
                        return -ERANGE;
                for (uint64_t i = a; i <= b; i++)
                        cpu_set_add(&set, (unsigned)i);
                p += len + 1;
                if (comma && p >= end)
                        return -EINVAL; /* trailing comma */
        }
        *ret = set;
        return 0;
}

int cpu_set_format(const CpuSet *c, char *buf, size_t size)
{
        size_t o = 0;

        assert(size > 0);
        buf[0] = 0;
        for (unsigned i = 0; i < CGPARSE_CPU_MAX;) {
                unsigned j;
                int n;

                if (!cpu_set_has(c, i)) {
                        i++;
                        continue;
                }
                for (j = i; j + 1 < CGPARSE_CPU_MAX && cpu_set_has(c, j + 1); j++)
                        ;
                if (j == i)
                        n = snprintf(buf + o, size - o, "%s%u", o ? "," : "", i);
                else
                        n = snprintf(buf + o, size - o, "%s%u-%u", o ? "," : "", i, j);
                if (n < 0 || (size_t)n >= size - o)
                        return -ENOBUFS;
                o += (size_t)n;
                i = j + 1;
        }
        return 0;
}

static Span trimmed(const char *s)
{
        Span sp = {s, strlen(s)};
        while (sp.n > 0 && (is_space(*sp.p) || *sp.p == '\n')) {
                sp.p++;
                sp.n--;
        }
        while (sp.n > 0 && (is_space(sp.p[sp.n - 1]) || sp.p[sp.n - 1] == '\n'))
                sp.n--;
        return sp;
}

int cgparse_limit(const char *s, bool *ret_has, uint64_t *ret)
{
        Span sp = trimmed(s);
        uint64_t v;
        int r;

        if (span_eq(sp, "max") || span_eq(sp, "-1")) {
                *ret_has = false;
                *ret = 0;
                return 0;
        }
        r = span_u64(sp, &v);
        if (r < 0)
                return r;
        *ret_has = v < CG_V1_UNLIMITED_FLOOR;
        *ret = *ret_has ? v : 0;
        return 0;
}

bool cgparse_limit_value_is_set(uint64_t v)
{
        return v < CG_V1_UNLIMITED_FLOOR;
}

int cgparse_quota_v1(const char *s, bool *ret_has, int64_t *ret)
{
        Span sp = trimmed(s);
        uint64_t v;
        int r;

        if (span_eq(sp, "-1")) {
                *ret_has = false;
                *ret = -1;
                return 0;
        }
        r = span_u64(sp, &v);
        if (r < 0)
                return r;
        if (v == 0 || v > INT64_MAX)
                return -ERANGE;
        *ret_has = true;
        *ret = (int64_t)v;
        return 0;
}

int cgparse_cpu_max(const char *s, bool *ret_has, int64_t *ret_quota, uint64_t *ret_period)
{
        Span sp = trimmed(s), q, p, extra;
        uint64_t quota = 0, period;
        bool has;
        int r;

        if (!next_word(&sp, &q) || !next_word(&sp, &p) || next_word(&sp, &extra))
                return -EINVAL;
        has = !span_eq(q, "max");
        if (has) {
                r = span_u64(q, &quota);
                if (r < 0)
                        return r;
                if (quota == 0 || quota > INT64_MAX)
                        return -ERANGE;
        }
        r = span_u64(p, &period);
        if (r < 0)
                return r;
        if (period == 0)
                return -ERANGE;
        *ret_has = has;
        *ret_quota = has ? (int64_t)quota : -1;
        *ret_period = period;
        return 0;
}

int cgparse_keyed(const char *buf, CgKey *table, size_t n)
{
        const char *cur = buf;
        Span line;
        unsigned lines = 0;
        int found = 0;

        for (size_t i = 0; i < n; i++)
                table[i].found = false;
        while (next_line(&cur, &line)) {
                Span sp = line, key, val, unit;
                uint64_t v;

                if (++lines > CGPARSE_LINES_MAX)
                        return -E2BIG;
                if (!next_word(&sp, &key))
                        continue;
                if (key.n > 1 && key.p[key.n - 1] == ':')
                        key.n--;
                if (!next_word(&sp, &val))
                        continue;
                if (span_u64(val, &v) < 0)
                        continue;
                if (next_word(&sp, &unit)) {
                        if (!span_eq(unit, "kB"))
                                continue;
                        if (v > UINT64_MAX / 1024)
                                continue;
                        v *= 1024;
                }
                for (size_t i = 0; i < n; i++)
                        if (!table[i].found && span_eq(key, table[i].name)) {
                                table[i].value = v;
                                table[i].found = true;
                                found++;
                                break;
                        }
        }
        return found;
}

bool cg_key_get(const CgKey *table, size_t n, const char *name, uint64_t *ret)
{
        for (size_t i = 0; i < n; i++)
                if (table[i].found && streq(table[i].name, name)) {
                        *ret = table[i].value;
                        return true;
                }
        return false;
}

static bool is_devnum(Span s)
{
        const char *colon = memchr(s.p, ':', s.n);
        uint64_t v;

        return colon && span_u64((Span){s.p, (size_t)(colon - s.p)}, &v) >= 0 &&
               span_u64((Span){colon + 1, (size_t)(s.p + s.n - colon - 1)}, &v) >= 0;
}

static bool add_ok(uint64_t *acc, uint64_t v)
{
        if (*acc > UINT64_MAX - v)
                return false;
        *acc += v;
        return true;
}

int cgparse_blkio_v1(const char *buf, uint64_t *ret_read, uint64_t *ret_write)
{
        const char *cur = buf;
        Span line;
        uint64_t rd = 0, wr = 0;
        unsigned lines = 0;

        while (next_line(&cur, &line)) {
                Span sp = line, dev, op, val;
                uint64_t v;

                if (++lines > CGPARSE_LINES_MAX)
                        return -E2BIG;
                if (!next_word(&sp, &dev))
                        continue;
                if (span_eq(dev, "Total"))
                        continue;
                if (!is_devnum(dev) || !next_word(&sp, &op) || !next_word(&sp, &val))
                        return -EINVAL;
                if (span_u64(val, &v) < 0)
                        return -EINVAL;
                if (span_eq(op, "Read")) {
                        if (!add_ok(&rd, v))
                                return -ERANGE;
                } else if (span_eq(op, "Write")) {
                        if (!add_ok(&wr, v))
                                return -ERANGE;
                }
        }
        /* An empty file is valid: no I/O yet. "Total 0" alone too. */
        *ret_read = rd;
        *ret_write = wr;
        return 0;
}

int cgparse_io_stat(const char *buf, CgIo *ret)
{
        const char *cur = buf;
        Span line;
        CgIo io = {0};
        unsigned lines = 0;

        while (next_line(&cur, &line)) {
                Span sp = line, dev, kv;

                if (++lines > CGPARSE_LINES_MAX)
                        return -E2BIG;
                if (!next_word(&sp, &dev))
                        continue;
                if (!is_devnum(dev))
                        return -EINVAL;
                while (next_word(&sp, &kv)) {
                        const char *eq = memchr(kv.p, '=', kv.n);
                        Span k, v;
                        uint64_t n, *dst = NULL;

                        if (!eq)
                                return -EINVAL;
                        k = (Span){kv.p, (size_t)(eq - kv.p)};
                        v = (Span){eq + 1, (size_t)(kv.p + kv.n - eq - 1)};
                        if (span_eq(k, "rbytes"))
                                dst = &io.read_bytes;
                        else if (span_eq(k, "wbytes"))
                                dst = &io.write_bytes;
                        else if (span_eq(k, "rios"))
                                dst = &io.read_ops;
                        else if (span_eq(k, "wios"))
                                dst = &io.write_ops;
                        if (!dst)
                                continue; /* dbytes, cost.*, ... */
                        if (span_u64(v, &n) < 0)
                                return -EINVAL;
                        if (!add_ok(dst, n))
                                return -ERANGE;
                }
        }
        *ret = io;
        return 0;
}

int cgparse_diskstats(const char *buf, bool (*accept)(const char *name, void *userdata), void *userdata,
                      CgIo *ret)
{
        const char *cur = buf;
        Span line;
        CgIo io = {0};
        unsigned lines = 0;

        while (next_line(&cur, &line)) {
                Span sp = line, w[10];
                uint64_t v[10];
                char name[64];
                bool ok = true;

                if (++lines > CGPARSE_LINES_MAX)
                        return -E2BIG;
                for (size_t i = 0; i < ELEMENTSOF(w); i++)
                        if (!next_word(&sp, &w[i])) {
                                ok = false;
                                break;
                        }
                if (!ok) {
                        if (line.n == 0)
                                continue;
                        return -EINVAL;
                }
                /* major minor name reads merged sectors ms writes merged sectors */
                if (w[2].n >= sizeof name)
                        return -EINVAL;
                memcpy(name, w[2].p, w[2].n);
                name[w[2].n] = 0;
                for (size_t i = 3; i < ELEMENTSOF(w); i++)
                        if (span_u64(w[i], &v[i]) < 0)
                                return -EINVAL;
                if (accept && !accept(name, userdata))
                        continue;
                if (v[5] > UINT64_MAX / 512 || v[9] > UINT64_MAX / 512)
                        return -ERANGE;
                if (!add_ok(&io.read_ops, v[3]) || !add_ok(&io.read_bytes, v[5] * 512) ||
                    !add_ok(&io.write_ops, v[7]) || !add_ok(&io.write_bytes, v[9] * 512))
                        return -ERANGE;
        }
        *ret = io;
        return 0;
}

/* One interface line of /proc/net/dev ("  eth0: rx_bytes rx_packets ... tx_bytes ..."): its name (not
 * NUL-terminated, shorter than AGENT_IFNAME_MAX) and its counters. */
static int net_dev_line(Span line, Span *ret_name, AgentNetDev *ret)
{
        const char *colon = memchr(line.p, ':', line.n);
        Span name, sp, w;
        uint64_t v[16];
        AgentNetDev d = {0};

        if (!colon)
                return -EINVAL;
        name = (Span){line.p, (size_t)(colon - line.p)};
        while (name.n > 0 && is_space(*name.p)) {
                name.p++;
                name.n--;
        }
        if (name.n == 0 || name.n >= AGENT_IFNAME_MAX || memchr(name.p, 0, name.n))
                return -EINVAL;
        sp = (Span){colon + 1, (size_t)(line.p + line.n - colon - 1)};
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                if (!next_word(&sp, &w) || span_u64(w, &v[i]) < 0)
                        return -EINVAL;
        }
        memcpy(d.name, name.p, name.n);
        d.rx_bytes = v[0];
        d.rx_packets = v[1];
        d.rx_errors = v[2];
        d.rx_dropped = v[3];
        d.tx_bytes = v[8];
        d.tx_packets = v[9];
        d.tx_errors = v[10];
        d.tx_dropped = v[11];
        *ret_name = name;
        *ret = d;
        return 0;
}

/* The next interface of /proc/net/dev after the two header lines, counting lines in *lines. Returns 1
 * with the interface, 0 at the end, -EINVAL for a line that is not an interface or a file without its
 * headers, -E2BIG past CGPARSE_LINES_MAX lines. The one walker under both readers below. */
static int net_dev_next(const char **cur, unsigned *lines, Span *ret_name, AgentNetDev *ret)
{
        Span line;
        int r;

        while (next_line(cur, &line)) {
                if (++*lines > CGPARSE_LINES_MAX)
                        return -E2BIG;
                if (*lines <= 2 || line.n == 0)
                        continue; /* the two header lines */
                r = net_dev_line(line, ret_name, ret);
                return r < 0 ? r : 1;
        }
        return *lines < 2 ? -EINVAL : 0;
}

int cgparse_net_dev(const char *buf, bool include_lo, AgentNetDev *devs, unsigned max, unsigned *ret_n,
                    bool *ret_truncated)
{
        const char *cur = buf;
        unsigned n = 0, lines = 0;
        bool truncated = false;
        Span name;
        AgentNetDev d;
        int r;

        while ((r = net_dev_next(&cur, &lines, &name, &d)) > 0) {
                if (!include_lo && span_eq(name, "lo"))
                        continue;
                if (n >= max) {
                        truncated = true;
                        continue;
                }
                devs[n++] = d;
        }
        if (r < 0)
                return r;
        *ret_n = n;
        *ret_truncated = truncated;
        return 0;
}

int cgparse_net_dev_pick(const char *buf, const char (*names)[AGENT_IFNAME_MAX], unsigned n_names,
                         AgentNetDev *devs, bool *ret_found)
{
        const char *cur = buf;
        unsigned lines = 0;
        Span name;
        AgentNetDev d;
        int r;

        for (unsigned i = 0; i < n_names; i++)
                ret_found[i] = false;
        while ((r = net_dev_next(&cur, &lines, &name, &d)) > 0)
                for (unsigned i = 0; i < n_names; i++)
                        if (!ret_found[i] && span_eq(name, names[i])) {
                                devs[i] = d;
                                ret_found[i] = true;
                        }
        return r;
}

int cgparse_first_pid(const char *buf, unsigned *ret)
{
        const char *cur = buf;
        Span line;
        unsigned lines = 0;

        while (next_line(&cur, &line)) {
                Span sp = line, w;
                uint64_t v;

                if (++lines > CGPARSE_LINES_MAX)
                        return -E2BIG;
                if (!next_word(&sp, &w))
                        continue; /* blank */
                if (span_u64(w, &v) < 0 || v == 0 || v > CGPARSE_PID_MAX || next_word(&sp, &w))
                        return -EINVAL;
                *ret = (unsigned)v;
                return 0;
        }
        return -ENOENT;
}

int cgparse_pressure(const char *buf, AgentPressure *ret)
{
        const char *cur = buf;
        Span line;
        AgentPressure p = {0};
        unsigned lines = 0;

        while (next_line(&cur, &line)) {
                Span sp = line, kind, kv;
                double avg10 = 0, avg60 = 0;
                uint64_t total = 0;
                unsigned got = 0;

                if (++lines > 16)
                        return -E2BIG;
                if (!next_word(&sp, &kind))
                        continue;
                if (!span_eq(kind, "some") && !span_eq(kind, "full"))
                        return -EINVAL;
                while (next_word(&sp, &kv)) {
                        const char *eq = memchr(kv.p, '=', kv.n);
                        Span k, v;
                        if (!eq)
                                return -EINVAL;
                        k = (Span){kv.p, (size_t)(eq - kv.p)};
                        v = (Span){eq + 1, (size_t)(kv.p + kv.n - eq - 1)};
                        if (span_eq(k, "avg10")) {
                                if (span_udouble(v, &avg10) < 0)
                                        return -EINVAL;
                                got |= 1;
                        } else if (span_eq(k, "avg60")) {
                                if (span_udouble(v, &avg60) < 0)
                                        return -EINVAL;
                                got |= 2;
                        } else if (span_eq(k, "total")) {
                                if (span_u64(v, &total) < 0)
                                        return -EINVAL;
                                got |= 4;
                        }
                }
                if (got != 7)
                        return -EINVAL;
                if (span_eq(kind, "some")) {
                        p.has_some = true;
                        p.some_avg10 = avg10;
                        p.some_avg60 = avg60;
                        p.some_total_usec = total;
                } else {
                        p.has_full = true;
                        p.full_avg10 = avg10;
                        p.full_avg60 = avg60;
                        p.full_total_usec = total;
                }
        }
        if (!p.has_some)
                return -EINVAL;
        *ret = p;
        return 0;
}

int cgparse_proc_stat_cpu(const char *buf, CgProcStatCpu *ret)
{
        const char *cur = buf;
        Span line;
        unsigned lines = 0;

        while (next_line(&cur, &line)) {
                Span sp = line, w;
                uint64_t v[8] = {0};

                if (++lines > CGPARSE_LINES_MAX)
                        return -E2BIG;
                if (!next_word(&sp, &w) || !span_eq(w, "cpu"))
                        continue;
                /* Old kernels have fewer columns; at least the first four are required. */
                for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                        if (!next_word(&sp, &w)) {
                                if (i < 4)
                                        return -EINVAL;
                                break;
                        }
                        if (span_u64(w, &v[i]) < 0)
                                return -EINVAL;
                }
                *ret = (CgProcStatCpu){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
                return 0;
        }
        return -ENODATA;
}

int cgparse_uptime(const char *buf, double *ret_uptime, double *ret_idle)
{
        Span sp = trimmed(buf), a, b, extra;
        double up, idle;

        if (!next_word(&sp, &a) || !next_word(&sp, &b) || next_word(&sp, &extra))
                return -EINVAL;
        if (span_udouble(a, &up) < 0 || span_udouble(b, &idle) < 0)
                return -EINVAL;
        *ret_uptime = up;
        *ret_idle = idle;
        return 0;
}

int cgparse_pid_starttime(const char *buf, uint64_t *ret)
{
        const char *paren = strrchr(buf, ')');
        Span sp, w;

        if (!paren)
                return -EINVAL;
        sp = (Span){paren + 1, strlen(paren + 1)};
        /* After "(comm)": state is field 3, starttime field 22. */
        for (unsigned field = 3; field <= 22; field++)
                if (!next_word(&sp, &w))
                        return -EINVAL;
        return span_u64(w, ret);
}

int cgparse_pid_state(const char *buf, char *ret)
{
        const char *paren = strrchr(buf, ')');
        Span sp, w;

        if (!paren)
                return -EINVAL;
        /* comm may hold anything, ")" and spaces too: the state follows the last ")". */
        sp = (Span){paren + 1, strlen(paren + 1)};
        if (!next_word(&sp, &w) || w.n != 1 || !isalpha((unsigned char)w.p[0]))
                return -EINVAL;
        *ret = w.p[0];
        return 0;
}

int cgparse_environ_get(const char *buf, size_t size, const char *key, char *ret, size_t ret_size)
{
        size_t klen = strlen(key);

        for (size_t i = 0; i < size;) {
                const char *e = memchr(buf + i, 0, size - i);
                size_t len = e ? (size_t)(e - (buf + i)) : size - i;

                if (len > klen && buf[i + klen] == '=' && memcmp(buf + i, key, klen) == 0) {
                        size_t vlen = len - klen - 1;
                        if (vlen >= ret_size)
                                return -ENAMETOOLONG;
                        memcpy(ret, buf + i + klen + 1, vlen);
                        ret[vlen] = 0;
                        return 0;
                }
                i += len + 1;
        }
        return -ENOENT;
}

unsigned cgparse_count_lines(const char *buf)
{
        const char *cur = buf;
        Span line;
        unsigned n = 0;

        while (next_line(&cur, &line))
                if (line.n > 0)
                        n++;
        return n;
}
