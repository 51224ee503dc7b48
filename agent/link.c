/* Non-blocking connect. See link.h. */

#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>

#include "link.h"
#include "util.h"

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

int link_connect(const SocketAddress *a, int *ret_fd)
{
        assert(a);
        assert(ret_fd);

        switch (a->kind) {
        case ADDRESS_UNIX: {
                struct sockaddr_storage su;
                int len = address_unix_sockaddr(a, &su);

                if (len < 0)
                        return len;
                return connect_sockaddr(AF_UNIX, (const struct sockaddr *)&su, (socklen_t)len, ret_fd);
        }
        case ADDRESS_TCP: {
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
        case ADDRESS_VSOCK: {
                struct sockaddr_vm svm = {
                        .svm_family = AF_VSOCK,
                        .svm_cid = a->cid,
                        .svm_port = a->port,
                };
                return connect_sockaddr(AF_VSOCK, (const struct sockaddr *)&svm, sizeof(svm), ret_fd);
        }
        default:
                return -EINVAL;
        }
}

int link_connect_finish(int fd)
{
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                return negative_errno();
        return err > 0 ? -err : 0;
}
