/* See cgroup.h. */

#include <fcntl.h>

#include "cgfs.h"
#include "cgroup.h"
#include "log.h"
#include "util.h"

#define CGROUP_FIND_DEPTH 8 /* levels searched below the root for a --cgroup NAME */

static void layout_init(CgroupLayout *l)
{
        *l = (CgroupLayout){0};
        for (CgController c = 0; c < _CG_MAX; c++) {
                l->fd[c] = -EBADF;
                for (unsigned i = 0; i < CGROUP_DEPTH_MAX; i++)
                        l->parent_fd[c][i] = -EBADF;
        }
}

void cgroup_layout_close(CgroupLayout *l)
{
        for (CgController c = 0; c < _CG_MAX; c++) {
                l->fd[c] = safe_close(l->fd[c]);
                for (unsigned i = 0; i < CGROUP_DEPTH_MAX; i++)
                        l->parent_fd[c][i] = safe_close(l->parent_fd[c][i]);
                l->n_parents[c] = 0;
        }
}

static int open_dir_at(int root_fd, const char *path)
{
        const char *rel = path;

        while (*rel == '/')
                rel++;
        return RET_NERRNO(openat(root_fd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

/* Joins mount point and a path below it ("/" for the mount root). */
static int join(const char *a, const char *b, char *ret, size_t size)
{
        int n;

        if (streq(b, "/"))
                b = "";
        n = snprintf(ret, size, "%s%s", streq(a, "/") ? "" : a, b);
        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        if (!*ret)
                strcpy(ret, "/");
        return 0;
}

/* Opens the own directory and the visible ancestors of one hierarchy. */
static int open_hierarchy(int root_fd, CgroupLayout *l, CgController c, const CgMounts *m, const char *path)
{
        char rel[AGENT_PATH_MAX], dir[AGENT_PATH_MAX];
        int r, fd;

        r = cgparse_map_path(m->root[c], path, rel, sizeof rel);
        if (r == -EXDEV) {
                /* Our cgroup lies outside what the mount shows (a foreign cgroup namespace): the mount's
                 * root is the nearest thing we can see. */
                log_warning("cgroup '%s' of %s is not below mount root '%s'; watching the mount root.", path,
                            cg_controller_name(c), m->root[c]);
                strcpy(rel, "/");
        } else if (r < 0)
                return r;
        r = join(m->point[c], rel, dir, sizeof dir);
        if (r < 0)
                return r;
        fd = open_dir_at(root_fd, dir);
        if (fd < 0)
                return fd;
        l->fd[c] = fd;
        l->at_root[c] = streq(rel, "/");
        snprintf(l->path[c], AGENT_PATH_MAX, "%s", path);
        snprintf(l->dir[c], AGENT_PATH_MAX, "%s", dir);

        /* Ancestors, nearest first, up to and including the mount root. */
        for (char *slash; !streq(rel, "/") && l->n_parents[c] < CGROUP_DEPTH_MAX;) {
                slash = strrchr(rel, '/');
                if (!slash)
                        break;
                if (slash == rel)
                        rel[1] = 0;
                else
                        *slash = 0;
                if (join(m->point[c], rel, dir, sizeof dir) < 0)
                        break;
                fd = open_dir_at(root_fd, dir);
                if (fd < 0)
                        break;
                l->parent_fd[c][l->n_parents[c]++] = fd;
        }
        return 0;
}

static int read_text(int root_fd, const char *path, size_t max, char **ret)
{
        return read_full_file_at(root_fd, path, max, ret, NULL);
}

/* Asks libcgroup for the mount points and own paths of v1 controllers that our own parse of
 * mountinfo and /proc/self/cgroup did not find (live system only). It is not asked when our parse
 * already answered: cgroup_init() clears an 820 KiB static mount table, a fifth of the agent's memory
 * budget, and libcgroup does not know mount roots, which our parse keeps. */
static void consult_libcgroup(CgMounts *m, CgPaths *p, bool own)
{
        for (CgController c = 0; c < CG_UNIFIED; c++) {
                char buf[AGENT_PATH_MAX];
                const char *name = cg_controller_name(c);

                if (!m->found[c] && cgfs_mount_point(name, buf, sizeof buf) >= 0) {
                        snprintf(m->point[c], AGENT_PATH_MAX, "%s", buf);
                        strcpy(m->root[c], "/");
                        m->found[c] = true;
                }
                if (own && m->found[c] && !p->found[c] && cgfs_own_path(name, buf, sizeof buf) >= 0) {
                        snprintf(p->path[c], AGENT_PATH_MAX, "%s", buf);
                        p->found[c] = true;
                }
        }
}

/* Does our parse leave a gap that libcgroup can fill? Only on v1 and hybrid systems: libcgroup 2.0.2
 * fails on pure v2. */
static bool needs_libcgroup(const CgMounts *m, const CgPaths *p, bool own)
{
        static const CgController main_ctrls[] = {CG_CPU, CG_CPUACCT, CG_MEMORY};

        for (size_t i = 0; i < ELEMENTSOF(main_ctrls); i++) {
                CgController c = main_ctrls[i];
                if (!m->found[c] && !m->found[CG_UNIFIED])
                        return true;
                if (own && m->found[c] && !p->found[c])
                        return true;
        }
        return false;
}

/* Resolves a --cgroup NAME without a slash through libcgroup's tree walk. */
static int find_named(const CgMounts *m, const char *name, char *ret, size_t size)
{
        static const CgController order[] = {CG_CPU, CG_MEMORY, CG_CPUACCT, CG_CPUSET};
        int r = -ENOENT;

        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                if (!m->found[order[i]])
                        continue;
                r = cgfs_find(cg_controller_name(order[i]), name, CGROUP_FIND_DEPTH, ret, size);
                if (r >= 0)
                        return 0;
        }
        return r;
}

int cgroup_layout_open(int root_fd, bool live, const char *cgroup, CgroupLayout *ret)
{
        _cleanup_free_ char *mountinfo = NULL, *proc_cgroup = NULL;
        CgMounts m = {0};
        CgPaths p = {0};
        char named[AGENT_PATH_MAX];
        bool any_v1 = false;
        unsigned opened = 0;
        int r;

        assert(ret);
        layout_init(ret);

        r = read_text(root_fd, "proc/self/mountinfo", CGPARSE_MOUNTINFO_MAX, &mountinfo);
        if (r < 0)
                log_warning_errno(r, "Cannot read /proc/self/mountinfo, assuming no cgroups: %m");
        else if ((r = cgparse_mountinfo(mountinfo, &m)) < 0)
                log_warning_errno(r, "Cannot parse /proc/self/mountinfo, assuming no cgroups: %m");

        if (!cgroup) {
                r = read_text(root_fd, "proc/self/cgroup", CGPARSE_PROC_CGROUP_MAX, &proc_cgroup);
                if (r >= 0)
                        r = cgparse_proc_cgroup(proc_cgroup, &p);
                if (r < 0 && !live)
                        log_full_errno(m.found[CG_UNIFIED] || m.found[CG_CPU] || m.found[CG_MEMORY] ? LOG_WARNING
                                                                                                  : LOG_DEBUG,
                                       r, "Cannot use /proc/self/cgroup: %m");
        }
        if (live && needs_libcgroup(&m, &p, !cgroup))
                consult_libcgroup(&m, &p, !cgroup);

        if (cgroup) {
                if (cgroup[0] != '/') {
                        if (!live)
                                return log_error_errno(EINVAL, "--cgroup '%s' needs a leading '/' with --root.",
                                                       cgroup);
                        r = find_named(&m, cgroup, named, sizeof named);
                        if (r < 0)
                                return log_error_errno(r, "No cgroup named '%s' found: %m", cgroup);
                        cgroup = named;
                }
                if (strlen(cgroup) >= AGENT_PATH_MAX)
                        return log_error_errno(ENAMETOOLONG, "--cgroup path too long.");
                for (CgController c = 0; c < _CG_MAX; c++)
                        if (m.found[c]) {
                                snprintf(p.path[c], AGENT_PATH_MAX, "%s", cgroup);
                                p.found[c] = true;
                        }
        }

        for (CgController c = 0; c < CG_UNIFIED; c++)
                if (m.found[c] && p.found[c])
                        any_v1 = true;
        if (any_v1)
                ret->mode = m.found[CG_UNIFIED] ? CGROUP_MODE_HYBRID : CGROUP_MODE_LEGACY;
        else if (m.found[CG_UNIFIED] && p.found[CG_UNIFIED])
                ret->mode = CGROUP_MODE_UNIFIED;
        else
                ret->mode = CGROUP_MODE_NONE;
        ret->version = ret->mode == CGROUP_MODE_NONE ? 0 : ret->mode == CGROUP_MODE_UNIFIED ? 2 : 1;

        for (CgController c = 0; c < _CG_MAX; c++) {
                if (!m.found[c] || !p.found[c])
                        continue;
                if (ret->mode == CGROUP_MODE_UNIFIED && c != CG_UNIFIED)
                        continue;
                r = open_hierarchy(root_fd, ret, c, &m, p.path[c]);
                if (r < 0)
                        log_full_errno(cgroup ? LOG_DEBUG : LOG_WARNING, r, "Cannot open cgroup '%s' of %s: %m",
                                       p.path[c], cg_controller_name(c));
                else
                        opened++;
        }
        if (cgroup && opened == 0) {
                cgroup_layout_close(ret);
                return log_error_errno(ENOENT, "Cgroup '%s' does not exist in any hierarchy.", cgroup);
        }
        return 0;
}

const char *cgroup_layout_path(const CgroupLayout *l)
{
        const char *best = NULL;

        for (CgController c = 0; c < _CG_MAX; c++) {
                if (l->fd[c] < 0)
                        continue;
                if (l->mode != CGROUP_MODE_UNIFIED && c == CG_UNIFIED)
                        continue;
                if (!best || strlen(l->path[c]) > strlen(best))
                        best = l->path[c];
        }
        return best ? best : "/";
}
