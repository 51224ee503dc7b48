/* See virt.h. The order follows systemd-detect-virt: OpenVZ first (its containers have neither
 * container= nor DMI), then the container managers' own markers, then DMI, /sys/hypervisor and the
 * CPU's hypervisor flag. */

#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "cgparse.h"
#include "util.h"
#include "virt.h"

#define VIRT_ENVIRON_MAX (128U * 1024U) /* ARG_MAX-sized environments are possible; more is refused */
#define VIRT_SMALL_MAX 256U

static bool has_prefix_ci(const char *s, const char *prefix)
{
        return s && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

AgentVirt virt_decide(const VirtEvidence *e)
{
        static const char *const other_vms[] = {"VMware", "innotek", "VirtualBox", "Xen", "Bochs",
                                                "Parallels", "BHYVE", "Amazon EC2", "Google",
                                                "Microsoft Corporation", "OpenStack", "Apple Virtualization"};

        if (e->proc_vz && !e->proc_bc)
                return AGENT_VIRT_OPENVZ;
        if (!isempty(e->container)) {
                if (streq(e->container, "lxc") || streq(e->container, "lxc-libvirt"))
                        return AGENT_VIRT_LXC;
                if (streq(e->container, "docker"))
                        return AGENT_VIRT_DOCKER;
                if (streq(e->container, "podman") || streq(e->container, "oci"))
                        return AGENT_VIRT_PODMAN;
                if (streq(e->container, "openvz"))
                        return AGENT_VIRT_OPENVZ;
                return AGENT_VIRT_CONTAINER_OTHER;
        }
        if (e->containerenv)
                return AGENT_VIRT_PODMAN;
        if (e->dockerenv)
                return AGENT_VIRT_DOCKER;

        /* The hypervisor's own CPUID signature is the best evidence, as for systemd-detect-virt: qemu
         * puts "QEMU" into DMI whether KVM runs the guest or qemu emulates the CPU (TCG). */
        if (e->cpuid_vendor && streq(e->cpuid_vendor, "KVMKVMKVM"))
                return AGENT_VIRT_KVM;
        if (e->cpuid_vendor && streq(e->cpuid_vendor, "TCGTCGTCGTCG"))
                return AGENT_VIRT_QEMU;
        if (has_prefix_ci(e->product_name, "KVM") || has_prefix_ci(e->sys_vendor, "KVM"))
                return AGENT_VIRT_KVM;
        /* Without CPUID: a KVM guest has KVM's paravirtual clock, an emulated one has not. */
        if (has_prefix_ci(e->sys_vendor, "QEMU") || has_prefix_ci(e->product_name, "QEMU"))
                return e->kvm_clock ? AGENT_VIRT_KVM : AGENT_VIRT_QEMU;
        for (size_t i = 0; i < ELEMENTSOF(other_vms); i++)
                if (has_prefix_ci(e->sys_vendor, other_vms[i]))
                        return AGENT_VIRT_VM_OTHER;
        if (has_prefix_ci(e->product_name, "Virtual Machine") || has_prefix_ci(e->product_name, "VMware"))
                return AGENT_VIRT_VM_OTHER;
        if (!isempty(e->hypervisor_type))
                return AGENT_VIRT_VM_OTHER;
        if (e->cpuinfo_hypervisor)
                return AGENT_VIRT_VM_OTHER;
        return AGENT_VIRT_NONE;
}

static bool exists_at(int root_fd, const char *path)
{
        struct stat st;
        return fstatat(root_fd, path, &st, 0) >= 0;
}

/* Reads a small file into buf, stripped; false when absent or unreadable. */
static bool read_small(int root_fd, const char *path, char *buf, size_t size)
{
        _cleanup_close_ int fd = openat(root_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        ssize_t n;

        if (fd < 0)
                return false;
        n = pread_full(fd, buf, size);
        if (n < 0)
                return false;
        memmove(buf, strstrip(buf), strlen(strstrip(buf)) + 1);
        return *buf != 0;
}

/* The "flags" line of /proc/cpuinfo mentions "hypervisor". Only the first CPU's block is read. */
static bool cpuinfo_has_hypervisor(int root_fd)
{
        _cleanup_close_ int fd = openat(root_fd, "proc/cpuinfo", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        char buf[16384], *line;
        ssize_t n;

        if (fd < 0)
                return false;
        n = pread(fd, buf, sizeof buf - 1, 0);
        if (n <= 0)
                return false;
        buf[n] = 0;
        for (line = buf; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                if (strneq(line, "flags", 5) && strstr(line, " hypervisor"))
                        return true;
                line = nl ? nl + 1 : NULL;
        }
        return false;
}

/* The hypervisor's signature in CPUID leaf 0x40000000, when the CPU says a hypervisor runs it. Only
 * meaningful for the real root: a fixture tree does not change the CPU the agent runs on. */
static bool cpuid_hypervisor_vendor(int root_fd, char ret[static 13])
{
#if defined(__x86_64__) || defined(__i386__)
        struct stat a, b;
        unsigned eax, ebx, ecx, edx;

        if (fstat(root_fd, &a) < 0 || stat("/", &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
                return false;
        if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1U << 31)))
                return false;
        __cpuid(0x40000000, eax, ebx, ecx, edx);
        memcpy(ret, &ebx, 4);
        memcpy(ret + 4, &ecx, 4);
        memcpy(ret + 8, &edx, 4);
        ret[12] = 0;
        return true;
#else
        return false;
#endif
}

AgentVirt virt_detect(int root_fd)
{
        VirtEvidence e = {0};
        char container[VIRT_SMALL_MAX] = "", vendor[VIRT_SMALL_MAX], product[VIRT_SMALL_MAX],
             hyp[VIRT_SMALL_MAX], clocks[VIRT_SMALL_MAX], cpuid[13];
        _cleanup_free_ char *environ_buf = NULL;
        size_t environ_size = 0;

        e.proc_vz = exists_at(root_fd, "proc/vz");
        e.proc_bc = exists_at(root_fd, "proc/bc");
        e.dockerenv = exists_at(root_fd, ".dockerenv");
        e.containerenv = exists_at(root_fd, "run/.containerenv");
        if (read_full_file_at(root_fd, "proc/1/environ", VIRT_ENVIRON_MAX, &environ_buf, &environ_size) >= 0 &&
            cgparse_environ_get(environ_buf, environ_size, "container", container, sizeof container) >= 0)
                e.container = container;
        else if (read_small(root_fd, "run/systemd/container", container, sizeof container))
                e.container = container;
        if (read_small(root_fd, "sys/class/dmi/id/sys_vendor", vendor, sizeof vendor))
                e.sys_vendor = vendor;
        if (read_small(root_fd, "sys/class/dmi/id/product_name", product, sizeof product))
                e.product_name = product;
        if (read_small(root_fd, "sys/hypervisor/type", hyp, sizeof hyp))
                e.hypervisor_type = hyp;
        e.cpuinfo_hypervisor = cpuinfo_has_hypervisor(root_fd);
        if (read_small(root_fd, "sys/devices/system/clocksource/clocksource0/available_clocksource", clocks,
                       sizeof clocks))
                e.kvm_clock = strstr(clocks, "kvm-clock");
        if (cpuid_hypervisor_vendor(root_fd, cpuid))
                e.cpuid_vendor = cpuid;
        return virt_decide(&e);
}

static bool has_suffix(const char *s, size_t n, const char *suffix)
{
        size_t k = strlen(suffix);
        return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static bool component_is(const char *s, size_t n, const char *word)
{
        return n == strlen(word) && memcmp(s, word, n) == 0;
}

/* What one path component says, given the one above it (prev, prev_n; prev_n 0 at the top). */
static AgentVirt virt_from_component(const char *prev, size_t prev_n, const char *c, size_t n)
{
        /* Proxmox and plain LXC: /lxc/<vmid or name>; LXC 4+: /lxc.payload.<name> or /lxc.payload/<name>. */
        if ((component_is(prev, prev_n, "lxc") || component_is(prev, prev_n, "lxc.payload")) && n > 0)
                return AGENT_VIRT_LXC;
        if (n > STRLEN("lxc.payload.") && strneq(c, "lxc.payload.", STRLEN("lxc.payload.")))
                return AGENT_VIRT_LXC;
        /* Proxmox VMs: /qemu.slice/<vmid>.scope. */
        if (component_is(prev, prev_n, "qemu.slice") && has_suffix(c, n, ".scope"))
                return AGENT_VIRT_KVM;
        /* libvirt under systemd: /machine.slice/machine-qemu\x2d1\x2dvm1.scope, machine-lxc\x2d...;
         * without systemd: /machine/vm1.libvirt-qemu, /machine/ct1.libvirt-lxc. */
        if (n > STRLEN("machine-qemu") && strneq(c, "machine-qemu", STRLEN("machine-qemu")))
                return AGENT_VIRT_KVM;
        if (n > STRLEN("machine-lxc") && strneq(c, "machine-lxc", STRLEN("machine-lxc")))
                return AGENT_VIRT_LXC;
        if (has_suffix(c, n, ".libvirt-qemu"))
                return AGENT_VIRT_KVM;
        if (has_suffix(c, n, ".libvirt-lxc"))
                return AGENT_VIRT_LXC;
        if (component_is(prev, prev_n, "machine.slice") && n > STRLEN("systemd-nspawn@") &&
            strneq(c, "systemd-nspawn@", STRLEN("systemd-nspawn@")))
                return AGENT_VIRT_CONTAINER_OTHER;
        /* Docker: /docker/<id>, /system.slice/docker-<id>.scope; Podman: libpod-<id>.scope, /libpod_parent. */
        if (component_is(prev, prev_n, "docker") && n > 0)
                return AGENT_VIRT_DOCKER;
        if (n > STRLEN("docker-.scope") && strneq(c, "docker-", STRLEN("docker-")) && has_suffix(c, n, ".scope"))
                return AGENT_VIRT_DOCKER;
        if (n > STRLEN("libpod-") && strneq(c, "libpod-", STRLEN("libpod-")))
                return AGENT_VIRT_PODMAN;
        return AGENT_VIRT_UNKNOWN;
}

AgentVirt virt_from_cgroup_path(const char *path)
{
        AgentVirt found = AGENT_VIRT_UNKNOWN;
        const char *prev = "", *p;
        size_t prev_n = 0;

        if (!path)
                return AGENT_VIRT_UNKNOWN;
        for (p = path; *p;) {
                size_t n;
                AgentVirt v;

                if (*p == '/') {
                        p++;
                        continue;
                }
                n = strcspn(p, "/");
                v = virt_from_component(prev, prev_n, p, n);
                if (v != AGENT_VIRT_UNKNOWN)
                        found = v; /* the deepest guest wins: a container in a VM is a container */
                prev = p;
                prev_n = n;
                p += n;
        }
        return found;
}
