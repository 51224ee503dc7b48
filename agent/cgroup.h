#pragma once
/* Discovery of the cgroup the agent watches: its own (from /proc/self/cgroup mapped through
 * /proc/self/mountinfo) or one named by --cgroup, on v1, hybrid and pure v2. The result is a set of
 * directory fds opened once (own cgroup and its visible ancestors per hierarchy), which the sampler
 * reads with openat()+pread() on every sample. */

#include "cgparse.h"

#define CGROUP_DEPTH_MAX 16 /* visible ancestors kept per hierarchy; deeper ones are ignored */

typedef struct CgroupLayout {
        CgroupMode mode;
        unsigned version;                        /* 1, 2, or 0 without cgroups */
        int fd[_CG_MAX];                         /* own cgroup directory, -EBADF when absent */
        bool at_root[_CG_MAX];                   /* the directory is the mount's root */
        unsigned n_parents[_CG_MAX];
        int parent_fd[_CG_MAX][CGROUP_DEPTH_MAX]; /* visible ancestors, nearest first */
        char path[_CG_MAX][AGENT_PATH_MAX];      /* cgroup path as /proc/self/cgroup shows it */
        char dir[_CG_MAX][AGENT_PATH_MAX];       /* directory below the root, for messages */
} CgroupLayout;

/* Opens the layout. root_fd is the folder /proc and /sys are read under; live says it is the real "/"
 * (then libcgroup is asked too). cgroup is --cgroup (NULL for our own); a name without a leading slash
 * is searched in the live hierarchy. Returns 0 (mode NONE when no cgroup is usable, which is not an
 * error), or -errno for a --cgroup that does not exist. */
int cgroup_layout_open(int root_fd, bool live, const char *cgroup, CgroupLayout *ret);
void cgroup_layout_close(CgroupLayout *l);

/* The cgroup path to report: the deepest of the hierarchies in use. */
const char *cgroup_layout_path(const CgroupLayout *l);
