/* See watch.h. */

#include "watch.h"

/* An interface name as the kernel accepts it (dev_valid_name()): 1..IFNAMSIZ-1 bytes, not "." or "..",
 * no '/', ':' or whitespace. */
static bool ifname_is_valid(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n >= AGENT_IFNAME_MAX || streq(s, ".") || streq(s, ".."))
                return false;
        for (; *s; s++)
                if (*s == '/' || *s == ':' || (unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f)
                        return false;
        return true;
}

static int add_iface(WatchOptions *w, const char *name, const char **ret_reason)
{
        if (!ifname_is_valid(name)) {
                *ret_reason = "expected an interface name of 1 to 15 bytes without '/', ':' or spaces";
                return -EINVAL;
        }
        for (unsigned i = 0; i < w->n_ifaces; i++)
                if (streq(w->ifaces[i], name)) {
                        *ret_reason = "the interface is named twice";
                        return -EEXIST;
                }
        if (w->n_ifaces >= AGENT_NET_MAX) {
                *ret_reason = "more than " STRINGIFY(AGENT_NET_MAX) " interfaces";
                return -E2BIG;
        }
        strcpy(w->ifaces[w->n_ifaces++], name);
        return 0;
}

int watch_options_set(WatchOptions *w, const char *key, const char *value, const char **ret_reason)
{
        const char *reason = NULL;
        int r = 0;

        assert(w);
        assert(key);
        assert(value);

        if (streq(key, "virt")) {
                AgentVirt v = agent_virt_from_string(value);
                if (v == AGENT_VIRT_UNKNOWN) {
                        reason = "expected none, lxc, openvz, docker, podman, kvm, qemu, vm-other or container-other";
                        r = -EINVAL;
                } else
                        w->virt = v;
        } else if (streq(key, "label"))
                r = labels_add_assignment(&w->labels, value, &reason);
        else if (streq(key, "net_iface"))
                r = add_iface(w, value, &reason);
        else
                return -ENOENT;
        if (r < 0 && ret_reason)
                *ret_reason = reason;
        return r;
}

void watch_options_merge(WatchOptions *w, const WatchOptions *over)
{
        if (over->virt != AGENT_VIRT_UNKNOWN)
                w->virt = over->virt;
        if (over->labels.n > 0)
                w->labels = over->labels;
        if (over->n_ifaces > 0) {
                w->n_ifaces = over->n_ifaces;
                memcpy(w->ifaces, over->ifaces, sizeof w->ifaces);
        }
}

void watch_options_apply(WatchOptions *w, SamplerOptions *o)
{
        for (unsigned i = 0; i < w->n_ifaces; i++)
                w->iface_ptrs[i] = w->ifaces[i];
        o->virt = w->virt;
        o->net_ifaces = w->n_ifaces > 0 ? w->iface_ptrs : NULL;
        o->n_net_ifaces = w->n_ifaces;
}
