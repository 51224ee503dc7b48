/* See address.h. */

#include <arpa/inet.h>
#include <inttypes.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/un.h>

#include "address.h"
#include "util.h"

static const char *const address_kind_names[_ADDRESS_KIND_MAX] = {
        [ADDRESS_UNIX] = "unix",
        [ADDRESS_TCP] = "tcp",
        [ADDRESS_VSOCK] = "vsock",
};

const char *address_kind_to_string(AddressKind k)
{
        return (size_t)k < ELEMENTSOF(address_kind_names) ? address_kind_names[k] : NULL;
}

/* Parses a decimal number in [min, max] with nothing around it (no sign, no blanks). */
static int parse_number(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
        uint64_t v;
        int r;

        if (isempty(s) || s[strspn(s, "0123456789")] != 0)
                return -EINVAL;
        r = safe_atou64(s, &v);
        if (r < 0)
                return r;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int address_parse_host_port(const char *s, char *host, size_t host_size, uint32_t *ret_port)
{
        const char *h, *colon;
        size_t hlen;
        uint64_t port;
        int r;

        assert(host);
        assert(ret_port);

        if (isempty(s))
                return -EINVAL;
        if (s[0] == '[') {
                const char *close = strchr(s, ']');

                if (!close || close[1] != ':')
                        return -EINVAL;
                h = s + 1;
                hlen = (size_t)(close - h);
                colon = close + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                h = s;
                hlen = (size_t)(colon - s);
                if (memchr(h, ':', hlen))
                        return -EINVAL; /* an IPv6 address needs its brackets */
        }
        if (hlen == 0)
                return -EINVAL;
        if (hlen > ADDRESS_HOST_MAX || hlen >= host_size)
                return -ENAMETOOLONG;
        for (size_t i = 0; i < hlen; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:%", h[i]))
                        return -EINVAL;
        r = parse_number(colon + 1, 0, 65535, &port);
        if (r < 0)
                return r;
        memcpy(host, h, hlen);
        host[hlen] = 0;
        *ret_port = (uint32_t)port;
        return 0;
}

static int parse_unix(const char *rest, SocketAddress *a)
{
        size_t n = strlen(rest);

        if (n == 0 || streq(rest, "@"))
                return -EINVAL;
        if (n > ADDRESS_UNIX_PATH_MAX)
                return -ENAMETOOLONG;
        memcpy(a->path, rest, n + 1);
        return 0;
}

static int parse_tcp(const char *rest, AddressUse use, SocketAddress *a)
{
        int r;

        r = address_parse_host_port(rest, a->host, sizeof(a->host), &a->port);
        if (r < 0)
                return r;
        if (a->port == 0 && use != ADDRESS_LISTEN)
                return -ERANGE; /* "any free port" only means something to a listener */
        return 0;
}

static int parse_vsock(const char *rest, AddressUse use, SocketAddress *a)
{
        /* VMADDR_CID_ANY and VMADDR_PORT_ANY (-1U) can be bound to, never connected to. */
        uint64_t max = use == ADDRESS_LISTEN ? UINT32_MAX : UINT32_MAX - 1;
        const char *colon = strchr(rest, ':');
        char cid[16];
        uint64_t v, port;
        size_t n;
        int r;

        if (!colon)
                return -EINVAL;
        n = (size_t)(colon - rest);
        if (n == 0 || n >= sizeof(cid))
                return -EINVAL;
        memcpy(cid, rest, n);
        cid[n] = 0;
        if (streq(cid, "host"))
                v = VMADDR_CID_HOST;
        else if (streq(cid, "local"))
                v = 1; /* VMADDR_CID_LOCAL, the loopback transport */
        else if (streq(cid, "any") && use == ADDRESS_LISTEN)
                v = ADDRESS_VSOCK_CID_ANY;
        else {
                r = parse_number(cid, 0, max, &v);
                if (r < 0)
                        return r;
        }
        r = parse_number(colon + 1, 0, max, &port);
        if (r < 0)
                return r;
        a->cid = (uint32_t)v;
        a->port = (uint32_t)port;
        return 0;
}

int address_parse(const char *s, AddressUse use, SocketAddress *ret)
{
        SocketAddress a = {.kind = ADDRESS_UNIX};
        int r;

        assert(ret);

        if (!s)
                return -EINVAL;
        if (strnlen(s, ADDRESS_MAX + 1) > ADDRESS_MAX)
                return -ENAMETOOLONG;
        if (strneq(s, "unix:", 5)) {
                a.kind = ADDRESS_UNIX;
                r = parse_unix(s + 5, &a);
        } else if (strneq(s, "tcp:", 4)) {
                a.kind = ADDRESS_TCP;
                r = parse_tcp(s + 4, use, &a);
        } else if (strneq(s, "vsock:", 6)) {
                a.kind = ADDRESS_VSOCK;
                r = parse_vsock(s + 6, use, &a);
        } else
                r = -EINVAL;
        if (r < 0)
                return r;
        *ret = a;
        return 0;
}

char *address_to_string(const SocketAddress *a, char *buf, size_t size)
{
        assert(a);
        assert(buf);
        assert(size > 0);

        switch (a->kind) {
        case ADDRESS_UNIX:
                snprintf(buf, size, "unix:%s", a->path);
                break;
        case ADDRESS_TCP:
                snprintf(buf, size, strchr(a->host, ':') ? "tcp:[%s]:%" PRIu32 : "tcp:%s:%" PRIu32, a->host,
                         a->port);
                break;
        case ADDRESS_VSOCK:
                snprintf(buf, size, "vsock:%" PRIu32 ":%" PRIu32, a->cid, a->port);
                break;
        default:
                snprintf(buf, size, "unknown");
        }
        return buf;
}

int address_unix_sockaddr(const SocketAddress *a, struct sockaddr_storage *ret)
{
        struct sockaddr_un *su = (struct sockaddr_un *)(void *)ret;
        size_t n;

        assert(a && a->kind == ADDRESS_UNIX);
        assert(ret);

        n = strlen(a->path);
        if (n > sizeof(su->sun_path) - 1)
                return -ENAMETOOLONG;
        *ret = (struct sockaddr_storage){0};
        su->sun_family = AF_UNIX;
        memcpy(su->sun_path, a->path, n);
        if (a->path[0] == '@') {
                su->sun_path[0] = 0;
                return (int)(offsetof(struct sockaddr_un, sun_path) + n);
        }
        return (int)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

int address_from_sockaddr(const struct sockaddr *sa, socklen_t len, SocketAddress *ret)
{
        SocketAddress a = {.kind = ADDRESS_UNIX};

        assert(sa);
        assert(ret);

        switch (sa->sa_family) {
        case AF_INET: {
                const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)sa;

                a.kind = ADDRESS_TCP;
                inet_ntop(AF_INET, &in4->sin_addr, a.host, sizeof(a.host));
                a.port = ntohs(in4->sin_port);
                break;
        }
        case AF_INET6: {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

                a.kind = ADDRESS_TCP;
                inet_ntop(AF_INET6, &in6->sin6_addr, a.host, sizeof(a.host));
                a.port = ntohs(in6->sin6_port);
                break;
        }
        case AF_VSOCK: {
                const struct sockaddr_vm *vm = (const struct sockaddr_vm *)(const void *)sa;

                a.kind = ADDRESS_VSOCK;
                a.cid = vm->svm_cid;
                a.port = vm->svm_port;
                break;
        }
        case AF_UNIX: {
                const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)sa;
                size_t off = offsetof(struct sockaddr_un, sun_path);
                size_t n = len > off ? MIN((size_t)len - off, sizeof(un->sun_path)) : 0;

                a.kind = ADDRESS_UNIX;
                if (n > 0 && un->sun_path[0] == 0) /* abstract: the name after the NUL, not terminated */
                        snprintf(a.path, sizeof(a.path), "@%.*s", (int)(n - 1), un->sun_path + 1);
                else
                        snprintf(a.path, sizeof(a.path), "%.*s", (int)strnlen(un->sun_path, n), un->sun_path);
                break;
        }
        default:
                return -EAFNOSUPPORT;
        }
        *ret = a;
        return 0;
}
