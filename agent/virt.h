#pragma once
/* Which kind of machine the agent runs in: a container (lxc, openvz, docker, podman) or a VM (kvm/qemu,
 * others), from the usual evidence, all read below a root fd so fixture trees can fake it. */

#include "sample.h"

/* Container evidence wins over VM evidence (a container in a VM is a container). Never fails: returns
 * AGENT_VIRT_NONE when nothing points elsewhere. */
AgentVirt virt_detect(int root_fd);

/* The same decision from already read evidence (pure; used by the fuzz target and tests). Each
 * argument may be NULL when the file is absent. */
typedef struct VirtEvidence {
        bool proc_vz, proc_bc;          /* /proc/vz and /proc/bc exist */
        bool dockerenv, containerenv;   /* /.dockerenv, /run/.containerenv */
        const char *container;          /* container= from /proc/1/environ or /run/systemd/container */
        const char *sys_vendor, *product_name; /* /sys/class/dmi/id */
        const char *hypervisor_type;    /* /sys/hypervisor/type */
        bool cpuinfo_hypervisor;        /* "hypervisor" among /proc/cpuinfo flags */
        bool kvm_clock;                 /* "kvm-clock" among the available clocksources */
        const char *cpuid_vendor;       /* CPUID leaf 0x40000000 ("KVMKVMKVM", "TCGTCGTCGTCG"); NULL when
                                         * not read (a fixture tree, another architecture) */
} VirtEvidence;
AgentVirt virt_decide(const VirtEvidence *e);

/* The kind of guest a cgroup path belongs to, as the managers name their cgroups: Proxmox's /lxc/<vmid>
 * and /qemu.slice/<vmid>.scope, LXC's /lxc.payload.<name>, libvirt's machine.slice/machine-qemu...,
 * machine-lxc... and machine/<name>.libvirt-{qemu,lxc}, systemd-nspawn, Docker and Podman scopes. The
 * deepest component that names a guest decides. AGENT_VIRT_UNKNOWN when none does (pure; for the host
 * watching a guest with --cgroup, where the watcher's own evidence says nothing about the guest). */
AgentVirt virt_from_cgroup_path(const char *path);
