/* Connect URIs and non-blocking connect. See link.h. */

#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>

#include "link.h"
#include "util.h"

const char *link_kind_to_string(LinkKind k)
{
        switch (k) {
        case LINK_UNIX:
                return "unix";
        case LINK_TCP:
                return "tcp";
        case LINK_VSOCK:
                return "vsock";
        }
        return "unknown";
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

static int parse_unix(const char *rest, LinkAddress *a)
{
        size_t n = strlen(rest);

        if (n == 0 || streq(rest, "@"))
                return -EINVAL;
        if (n > LINK_UNIX_PATH_MAX)
                return -ENAMETOOLONG;
        memcpy(a->path, rest, n + 1);
        a->kind = LINK_UNIX;
        return 0;
}

static int parse_tcp(const char *rest, LinkAddress *a)
{
        const char *host, *colon;
        size_t hlen;
        uint64_t port;
        int r;

        if (rest[0] == '[') {
                const char *close = strchr(rest, ']');

                if (!close || close[1] != ':')
                        return -EINVAL;
                host = rest + 1;
                hlen = (size_t)(close - host);
                colon = close + 1;
        } else {
                colon = strrchr(rest, ':');
                if (!colon)
                        return -EINVAL;
                host = rest;
                hlen = (size_t)(colon - rest);
                if (memchr(host, ':', hlen))
                        return -EINVAL; /* an IPv6 address needs its brackets */
        }
        if (hlen == 0)
                return -EINVAL;
        if (hlen > LINK_HOST_MAX)
                return -ENAMETOOLONG;
        for (size_t i = 0; i < hlen; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:%", host[i]))
                        return -EINVAL;
        r = parse_number(colon + 1, 1, 65535, &port);
        if (r < 0)
                return r;
        memcpy(a->host, host, hlen);
        a->host[hlen] = 0;
        a->port = (uint16_t)port;
        a->kind = LINK_TCP;
        return 0;
}

static int parse_vsock(const char *rest, LinkAddress *a)
{
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
        else {
                /* VMADDR_CID_ANY (-1U) cannot be connected to. */
                r = parse_number(cid, 0, UINT32_MAX - 1, &v);
                if (r < 0)
                        return r;
        }
        r = parse_number(colon + 1, 0, UINT32_MAX - 1, &port);
        if (r < 0)
                return r;
        a->cid = (uint32_t)v;
        a->vsock_port = (uint32_t)port;
        a->kind = LINK_VSOCK;
        return 0;
}

int link_parse_uri(const char *uri, LinkAddress *ret)
{
        LinkAddress a = {.kind = LINK_UNIX};
        int r;

        assert(ret);

        if (!uri)
                return -EINVAL;
        if (strnlen(uri, LINK_URI_MAX + 1) > LINK_URI_MAX)
                return -ENAMETOOLONG;
        if (strneq(uri, "unix:", 5))
                r = parse_unix(uri + 5, &a);
        else if (strneq(uri, "tcp:", 4))
                r = parse_tcp(uri + 4, &a);
        else if (strneq(uri, "vsock:", 6))
                r = parse_vsock(uri + 6, &a);
        else
                r = -EINVAL;
        if (r < 0)
                return r;
        *ret = a;
        return 0;
}

static int connect_sockaddr(int family, const struct sockaddr *sa, socklen_t salen, int *ret_fd)
{
        _cleanup_close_ int fd = -EBADF;

        fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (family == AF_INET || family == AF_INET6) {
                int one = 1;

                /* A host that vanished is noticed even while the agent only waits for Acks. */
                (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        }
        if (connect(fd, sa, salen) < 0) {
                if (errno == EINPROGRESS || errno == EAGAIN) {
                        *ret_fd = TAKE_FD(fd);
                        return 1;
                }
                return negative_errno();
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int link_connect(const LinkAddress *a, int *ret_fd)
{
        assert(a);
        assert(ret_fd);

        switch (a->kind) {
        case LINK_UNIX: {
                struct sockaddr_un su = {.sun_family = AF_UNIX};
                size_t n = strlen(a->path);
                socklen_t len;

                if (n > sizeof(su.sun_path) - 1)
                        return -ENAMETOOLONG;
                memcpy(su.sun_path, a->path, n);
                if (a->path[0] == '@') {
                        su.sun_path[0] = 0; /* abstract: no NUL terminator counted */
                        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
                } else
                        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
                return connect_sockaddr(AF_UNIX, (const struct sockaddr *)&su, len, ret_fd);
        }
        case LINK_TCP: {
                struct addrinfo hints = {
                        .ai_family = AF_UNSPEC,
                        .ai_socktype = SOCK_STREAM,
                        .ai_flags = AI_NUMERICSERV,
                };
                struct addrinfo *res = NULL;
                char port[8];
                int r;

                snprintf(port, sizeof(port), "%u", (unsigned)a->port);
                r = getaddrinfo(a->host, port, &hints, &res);
                if (r != 0)
                        return r == EAI_SYSTEM ? negative_errno() : -EHOSTUNREACH;
                if (!res)
                        return -EHOSTUNREACH;
                r = connect_sockaddr(res->ai_family, res->ai_addr, res->ai_addrlen, ret_fd);
                freeaddrinfo(res);
                return r;
        }
        case LINK_VSOCK: {
                struct sockaddr_vm svm = {
                        .svm_family = AF_VSOCK,
                        .svm_cid = a->cid,
                        .svm_port = a->vsock_port,
                };
                return connect_sockaddr(AF_VSOCK, (const struct sockaddr *)&svm, sizeof(svm), ret_fd);
        }
        }
        return -EINVAL;
}

int link_connect_finish(int fd)
{
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                return negative_errno();
        return err > 0 ? -err : 0;
}
