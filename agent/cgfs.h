#pragma once
/* The libcgroup adapter: what Debian's libcgroup 2.0.2 does well on the live system (mount points of
 * v1 controllers, the agent's own v1 cgroup, walking a host hierarchy). It cannot be pointed at a
 * fixture root and fails on pure v2, so every caller has our own parser (cgparse.c) as the answer of
 * record and uses this only on the real root. libcgroup's ECG* codes are translated to -errno here. */

#include <stddef.h>

/* Initialises libcgroup once. Returns 0, or -errno (-ENODEV when nothing usable is mounted). */
int cgfs_init(void);

/* Mount point of a v1 controller ("cpu", "memory", ...) into buf. */
int cgfs_mount_point(const char *controller, char *buf, size_t size);

/* The agent's own cgroup path for a v1 controller, as /proc/self/cgroup lists it. */
int cgfs_own_path(const char *controller, char *buf, size_t size);

/* Walks the hierarchy of controller below base ("/" for all) at most max_depth levels down and writes
 * into buf the cgroup path of the first directory whose last component is name (e.g. "ct1" finds
 * "/lxc/ct1"). Returns 0, -ENOENT when none matches, or -errno. */
int cgfs_find(const char *controller, const char *name, unsigned max_depth, char *buf, size_t size);
