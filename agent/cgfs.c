/* See cgfs.h. */

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <libcgroup.h>

#include "cgfs.h"
#include "macro.h"

/* libcgroup's ECG* error codes as -errno. */
static int cgfs_errno(int r)
{
        switch (r) {
        case 0:
                return 0;
        case ECGOTHER: {
                int e = cgroup_get_last_errno();
                return e > 0 ? -e : -EIO;
        }
        case ECGROUPNOTMOUNTED:
        case ECGROUPNOTCOMPILED:
                return -ENODEV;
        case ECGROUPNOTEXIST:
                return -ENOENT;
        case ECGROUPNOTALLOWED:
                return -EACCES;
        case ECGINVAL:
                return -EINVAL;
        case ECGEOF:
                return -ENOENT;
        default:
                return -EIO;
        }
}

static int cgfs_initialised = 0; /* 0: not tried, 1: ok, <0: -errno of the failure */

int cgfs_init(void)
{
        if (cgfs_initialised == 0) {
                int r = cgfs_errno(cgroup_init());
                cgfs_initialised = r < 0 ? r : 1;
        }
        return cgfs_initialised < 0 ? cgfs_initialised : 0;
}

static int copy_out(const char *s, char *buf, size_t size)
{
        if (!s || !*s)
                return -ENODATA;
        if (strlen(s) >= size)
                return -ENAMETOOLONG;
        strcpy(buf, s);
        return 0;
}

int cgfs_mount_point(const char *controller, char *buf, size_t size)
{
        _cleanup_free_ char *mp = NULL;
        int r;

        r = cgfs_init();
        if (r < 0)
                return r;
        r = cgfs_errno(cgroup_get_subsys_mount_point(controller, &mp));
        if (r < 0)
                return r;
        return copy_out(mp, buf, size);
}

int cgfs_own_path(const char *controller, char *buf, size_t size)
{
        _cleanup_free_ char *p = NULL;
        int r;

        r = cgfs_init();
        if (r < 0)
                return r;
        r = cgfs_errno(cgroup_get_current_controller_path(getpid(), controller, &p));
        if (r < 0)
                return r;
        /* libcgroup prints paths without the leading slash for the root's children on some layouts. */
        if (p && p[0] != '/') {
                if (strlen(p) + 2 > size)
                        return -ENAMETOOLONG;
                buf[0] = '/';
                strcpy(buf + 1, p);
                return 0;
        }
        return copy_out(p, buf, size);
}

int cgfs_find(const char *controller, const char *name, unsigned max_depth, char *buf, size_t size)
{
        char mount[4096];
        struct cgroup_file_info info;
        void *handle = NULL;
        int base_level = 0, r, found = -ENOENT;
        size_t mlen;

        if (isempty(name) || strchr(name, '/'))
                return -EINVAL;
        r = cgfs_mount_point(controller, mount, sizeof mount);
        if (r < 0)
                return r;
        mlen = strlen(mount);

        r = cgroup_walk_tree_begin(controller, "/", (int)max_depth, &handle, &info, &base_level);
        if (r != 0) {
                if (handle)
                        cgroup_walk_tree_end(&handle);
                return r == ECGEOF ? -ENOENT : cgfs_errno(r);
        }
        for (unsigned steps = 0; r == 0 && steps < 100000; steps++) {
                if (info.type == CGROUP_FILE_TYPE_DIR && info.path && streq(info.path, name) &&
                    info.full_path && strncmp(info.full_path, mount, mlen) == 0) {
                        const char *rel = info.full_path + mlen;
                        size_t n = strlen(rel);
                        while (n > 1 && rel[n - 1] == '/')
                                n--;
                        if (n + 1 > size)
                                found = -ENAMETOOLONG;
                        else {
                                memcpy(buf, rel, n);
                                buf[n] = 0;
                                found = 0;
                        }
                        break;
                }
                r = cgroup_walk_tree_next((int)max_depth, &handle, &info, base_level);
        }
        cgroup_walk_tree_end(&handle);
        return found;
}
