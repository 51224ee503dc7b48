/* Names of the enums of sample.h. */
#include "sample.h"

static const char *const virt_names[] = {
        [AGENT_VIRT_UNKNOWN] = "unknown", [AGENT_VIRT_NONE] = "none",
        [AGENT_VIRT_LXC] = "lxc",         [AGENT_VIRT_OPENVZ] = "openvz",
        [AGENT_VIRT_DOCKER] = "docker",   [AGENT_VIRT_PODMAN] = "podman",
        [AGENT_VIRT_KVM] = "kvm",         [AGENT_VIRT_VM_OTHER] = "vm-other",
        [AGENT_VIRT_CONTAINER_OTHER] = "container-other", [AGENT_VIRT_QEMU] = "qemu",
};

const char *agent_virt_to_string(AgentVirt v)
{
        if ((unsigned)v >= ELEMENTSOF(virt_names))
                return "unknown";
        return virt_names[v];
}

AgentVirt agent_virt_from_string(const char *s)
{
        for (size_t i = 0; s && i < ELEMENTSOF(virt_names); i++)
                if (streq(s, virt_names[i]))
                        return (AgentVirt)i;
        return AGENT_VIRT_UNKNOWN;
}

const char *cgroup_mode_to_string(CgroupMode m)
{
        switch (m) {
        case CGROUP_MODE_LEGACY:
                return "legacy";
        case CGROUP_MODE_HYBRID:
                return "hybrid";
        case CGROUP_MODE_UNIFIED:
                return "unified";
        default:
                return "none";
        }
}

const char *agent_net_source_to_string(AgentNetSource s)
{
        switch (s) {
        case AGENT_NET_TASK:
                return "task";
        case AGENT_NET_INTERFACES:
                return "interfaces";
        default:
                return "own";
        }
}
