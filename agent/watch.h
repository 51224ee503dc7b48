#pragma once
/* What the operator says about the watched guest, beyond the cgroup: its kind (--virt), free labels
 * (--label key=value) and the host interfaces that carry a VM's traffic (--net-iface). Shared by
 * "sample", "view" and "run" (command line and the [agent] section of the config file). Plain data. */

#include "label.h"
#include "sampler.h"

typedef struct WatchOptions {
        AgentVirt virt; /* AGENT_VIRT_UNKNOWN: not set */
        Labels labels;
        unsigned n_ifaces;
        char ifaces[AGENT_NET_MAX][AGENT_IFNAME_MAX];
        const char *iface_ptrs[AGENT_NET_MAX]; /* into ifaces, for SamplerOptions */
} WatchOptions;

/* Applies one setting: key "virt" (a kind as the JSON names it: lxc, kvm, docker, ...), "label"
 * (key=value, repeatable) or "net_iface" (an interface name, repeatable). Returns 0; -ENOENT for
 * another key (not ours); -EINVAL, -EEXIST or -E2BIG for a bad value, with the reason in *ret_reason
 * (static text). w is unchanged on error. */
int watch_options_set(WatchOptions *w, const char *key, const char *value, const char **ret_reason);

/* Puts what was set in over: the kind when set, and each list when it is not empty (the command line
 * over the config file). */
void watch_options_merge(WatchOptions *w, const WatchOptions *over);

/* Fills the sampler's virt and interface options from w, which must outlive o. */
void watch_options_apply(WatchOptions *w, SamplerOptions *o);
