/* Socket addresses (common/address.c): the grammar the agent's --connect and the daemon's listen= share,
 * what only a listener may say, printing, and the addresses of real sockets. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "address.h"

static void test_parse_good(void **state)
{
        static const AddressUse uses[] = {ADDRESS_CONNECT, ADDRESS_LISTEN};

        for (size_t i = 0; i < ELEMENTSOF(uses); i++) {
                AddressUse u = uses[i];
                SocketAddress a;

                assert_int_equal(address_parse("unix:/run/seatmeter/ingest.sock", u, &a), 0);
                assert_int_equal(a.kind, ADDRESS_UNIX);
                assert_string_equal(a.path, "/run/seatmeter/ingest.sock");
                assert_int_equal(address_parse("unix:@seatmeter", u, &a), 0);
                assert_string_equal(a.path, "@seatmeter");
                assert_int_equal(address_parse("unix:relative.sock", u, &a), 0);

                assert_int_equal(address_parse("tcp:127.0.0.1:8481", u, &a), 0);
                assert_int_equal(a.kind, ADDRESS_TCP);
                assert_string_equal(a.host, "127.0.0.1");
                assert_int_equal(a.port, 8481);
                assert_int_equal(address_parse("tcp:0.0.0.0:8481", u, &a), 0);
                assert_string_equal(a.host, "0.0.0.0");
                assert_int_equal(address_parse("tcp:[::1]:1", u, &a), 0);
                assert_string_equal(a.host, "::1");
                assert_int_equal(a.port, 1);
                assert_int_equal(address_parse("tcp:daemon.example.org:65535", u, &a), 0);
                assert_string_equal(a.host, "daemon.example.org");
                assert_int_equal(a.port, 65535);
                assert_int_equal(address_parse("tcp:99999999999999999999999:80", u, &a), 0); /* a name */

                assert_int_equal(address_parse("vsock:2:8481", u, &a), 0);
                assert_int_equal(a.kind, ADDRESS_VSOCK);
                assert_int_equal(a.cid, 2);
                assert_int_equal(a.port, 8481);
                assert_int_equal(address_parse("vsock:1:1234", u, &a), 0);
                assert_int_equal(a.cid, 1);
                assert_int_equal(a.port, 1234);
                assert_int_equal(address_parse("vsock:host:5", u, &a), 0);
                assert_int_equal(a.cid, 2);
                assert_int_equal(address_parse("vsock:local:5", u, &a), 0);
                assert_int_equal(a.cid, 1);
        }
        assert_string_equal(address_kind_to_string(ADDRESS_UNIX), "unix");
        assert_string_equal(address_kind_to_string(ADDRESS_TCP), "tcp");
        assert_string_equal(address_kind_to_string(ADDRESS_VSOCK), "vsock");
        assert_null(address_kind_to_string(_ADDRESS_KIND_MAX));
}

/* Port 0 (any free port), CID "any" and the -1U port are for binding; an agent cannot connect there. */
static void test_listen_only(void **state)
{
        SocketAddress a;

        assert_int_equal(address_parse("tcp:[::1]:0", ADDRESS_LISTEN, &a), 0);
        assert_string_equal(a.host, "::1");
        assert_int_equal(a.port, 0);
        assert_int_equal(address_parse("tcp:[::1]:0", ADDRESS_CONNECT, &a), -ERANGE);
        assert_int_equal(address_parse("tcp:host:0", ADDRESS_CONNECT, &a), -ERANGE);

        assert_int_equal(address_parse("vsock:any:5000", ADDRESS_LISTEN, &a), 0);
        assert_int_equal(a.cid, ADDRESS_VSOCK_CID_ANY);
        assert_int_equal(a.cid, VMADDR_CID_ANY);
        assert_int_equal(a.port, 5000);
        assert_int_equal(address_parse("vsock:any:5000", ADDRESS_CONNECT, &a), -EINVAL);
        assert_int_equal(address_parse("vsock:4294967295:5", ADDRESS_LISTEN, &a), 0);
        assert_int_equal(address_parse("vsock:4294967295:5", ADDRESS_CONNECT, &a), -ERANGE);
        assert_int_equal(address_parse("vsock:3:4294967295", ADDRESS_LISTEN, &a), 0);
        assert_int_equal(a.port, VMADDR_PORT_ANY);
        assert_int_equal(address_parse("vsock:3:4294967295", ADDRESS_CONNECT, &a), -ERANGE);
        assert_int_equal(address_parse("vsock:3:4294967296", ADDRESS_LISTEN, &a), -ERANGE);
}

static void test_parse_bad(void **state)
{
        static const AddressUse uses[] = {ADDRESS_CONNECT, ADDRESS_LISTEN};
        char longpath[200], longhost[400], longtext[ADDRESS_MAX + 2];

        for (size_t i = 0; i < ELEMENTSOF(uses); i++) {
                AddressUse u = uses[i];
                SocketAddress a = {.port = 42};

                assert_int_equal(address_parse(NULL, u, &a), -EINVAL);
                assert_int_equal(address_parse("", u, &a), -EINVAL);
                assert_int_equal(address_parse("udp:1.2.3.4:5", u, &a), -EINVAL);
                assert_int_equal(address_parse("file:/x", u, &a), -EINVAL);
                assert_int_equal(address_parse("UNIX:/x", u, &a), -EINVAL);
                assert_int_equal(address_parse("unix:", u, &a), -EINVAL);
                assert_int_equal(address_parse("unix:@", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:host", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp::80", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:host:", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:host:65536", u, &a), -ERANGE);
                assert_int_equal(address_parse("tcp:host:-1", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:host:+1", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:host:8o", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:host: 80", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:host:80 ", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:::1:80", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:[::1]80", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:[::1:80", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:[]:80", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:ho st:80", u, &a), -EINVAL);
                assert_int_equal(address_parse("tcp:a/b:80", u, &a), -EINVAL);
                assert_int_equal(address_parse("vsock:2", u, &a), -EINVAL);
                assert_int_equal(address_parse("vsock::5", u, &a), -EINVAL);
                assert_int_equal(address_parse("vsock:1:", u, &a), -EINVAL);
                assert_int_equal(address_parse("vsock:x:5", u, &a), -EINVAL);
                assert_int_equal(address_parse("vsock:guest:5", u, &a), -EINVAL);
                assert_int_equal(address_parse("vsock:12345678901234567:5", u, &a), -EINVAL);
                assert_int_equal(address_parse("vsock:4294967296:5", u, &a), -ERANGE);

                memset(longpath, 'p', sizeof(longpath));
                memcpy(longpath, "unix:/", 6);
                longpath[sizeof(longpath) - 1] = 0;
                assert_int_equal(address_parse(longpath, u, &a), -ENAMETOOLONG);
                /* 107 bytes fit sun_path with its NUL; 108 do not. */
                longpath[5 + ADDRESS_UNIX_PATH_MAX] = 0;
                assert_int_equal(address_parse(longpath, u, &a), 0);
                longpath[5 + ADDRESS_UNIX_PATH_MAX] = 'p';
                longpath[5 + ADDRESS_UNIX_PATH_MAX + 1] = 0;
                assert_int_equal(address_parse(longpath, u, &a), -ENAMETOOLONG);
                memset(longhost, 'h', sizeof(longhost));
                memcpy(longhost, "tcp:", 4);
                memcpy(longhost + sizeof(longhost) - 4, ":80", 4);
                assert_int_equal(address_parse(longhost, u, &a), -ENAMETOOLONG);
                memset(longtext, '0', sizeof(longtext));
                memcpy(longtext, "vsock:1:", 8);
                longtext[sizeof(longtext) - 1] = 0;
                assert_int_equal(address_parse(longtext, u, &a), -ENAMETOOLONG);

                /* A failed parse leaves the output alone. */
                assert_int_equal(address_parse("tcp:host:7", u, &a), 0);
                assert_int_equal(address_parse("tcp:host:65536", u, &a), -ERANGE);
                assert_int_equal(a.port, 7);
        }
}

static void test_host_port(void **state)
{
        char host[ADDRESS_HOST_MAX + 1], small[4];
        uint32_t port = 1;

        assert_int_equal(address_parse_host_port("127.0.0.1:0", host, sizeof(host), &port), 0);
        assert_string_equal(host, "127.0.0.1");
        assert_int_equal(port, 0);
        assert_int_equal(address_parse_host_port("[::]:8480", host, sizeof(host), &port), 0);
        assert_string_equal(host, "::");
        assert_int_equal(port, 8480);
        assert_int_equal(address_parse_host_port("bad", host, sizeof(host), &port), -EINVAL);
        assert_int_equal(address_parse_host_port("", host, sizeof(host), &port), -EINVAL);
        assert_int_equal(address_parse_host_port(NULL, host, sizeof(host), &port), -EINVAL);
        assert_int_equal(address_parse_host_port("abcd:1", small, sizeof(small), &port), -ENAMETOOLONG);
        assert_int_equal(address_parse_host_port("abc:1", small, sizeof(small), &port), 0);
        assert_string_equal(small, "abc");
}

/* What address_to_string() prints, address_parse() reads back as the same address. */
static void test_print(void **state)
{
        static const char *const texts[] = {
                "unix:/run/seatmeter/ingest.sock", "unix:@seatmeter", "tcp:127.0.0.1:8481", "tcp:[::1]:1",
                "tcp:[fe80::1%eth0]:80", "tcp:daemon.example.org:65535", "vsock:2:8481", "vsock:4294967295:0",
        };
        char buf[ADDRESS_MAX + 1], tiny[8];

        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                SocketAddress a, b;

                assert_int_equal(address_parse(texts[i], ADDRESS_LISTEN, &a), 0);
                assert_string_equal(address_to_string(&a, buf, sizeof(buf)), texts[i]);
                assert_int_equal(address_parse(buf, ADDRESS_LISTEN, &b), 0);
                assert_memory_equal(&a, &b, sizeof(a));
        }
        {
                SocketAddress a = {.kind = ADDRESS_VSOCK, .cid = 1, .port = 1234};

                assert_string_equal(address_to_string(&a, tiny, sizeof(tiny)), "vsock:1"); /* cut, terminated */
        }
}

static void test_from_sockaddr(void **state)
{
        struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(8481),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(80), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        struct sockaddr_vm vm = {.svm_family = AF_VSOCK, .svm_cid = 3, .svm_port = 5000};
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        struct sockaddr other = {.sa_family = AF_APPLETALK};
        char buf[ADDRESS_MAX + 1];
        SocketAddress a;
        socklen_t len;

        assert_int_equal(address_from_sockaddr((struct sockaddr *)&in4, sizeof(in4), &a), 0);
        assert_string_equal(address_to_string(&a, buf, sizeof(buf)), "tcp:127.0.0.1:8481");
        assert_int_equal(address_from_sockaddr((struct sockaddr *)&in6, sizeof(in6), &a), 0);
        assert_string_equal(address_to_string(&a, buf, sizeof(buf)), "tcp:[::1]:80");
        assert_int_equal(address_from_sockaddr((struct sockaddr *)&vm, sizeof(vm), &a), 0);
        assert_string_equal(address_to_string(&a, buf, sizeof(buf)), "vsock:3:5000");

        strcpy(un.sun_path, "/run/x.sock");
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(un.sun_path) + 1);
        assert_int_equal(address_from_sockaddr((struct sockaddr *)&un, len, &a), 0);
        assert_string_equal(address_to_string(&a, buf, sizeof(buf)), "unix:/run/x.sock");
        /* Abstract: no terminating NUL counted in len. */
        memset(un.sun_path, 0, sizeof(un.sun_path));
        memcpy(un.sun_path + 1, "seatmeter", 9);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + 9);
        assert_int_equal(address_from_sockaddr((struct sockaddr *)&un, len, &a), 0);
        assert_string_equal(a.path, "@seatmeter");
        /* A full sun_path without a NUL is read to its end and no further. */
        memset(un.sun_path, 'x', sizeof(un.sun_path));
        assert_int_equal(address_from_sockaddr((struct sockaddr *)&un, sizeof(un), &a), 0);
        assert_int_equal(strlen(a.path), ADDRESS_UNIX_PATH_MAX);
        /* An unnamed socket (socketpair) has the empty path. */
        assert_int_equal(address_from_sockaddr((struct sockaddr *)&un, sizeof(sa_family_t), &a), 0);
        assert_string_equal(a.path, "");

        assert_int_equal(address_from_sockaddr(&other, sizeof(other), &a), -EAFNOSUPPORT);
}

/* The address of a real socket bound to port 0 reads back with the kernel's port. */
static void test_real_socket(void **state)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        SocketAddress a;
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
        assert_int_equal(address_from_sockaddr((struct sockaddr *)&ss, len, &a), 0);
        assert_int_equal(a.kind, ADDRESS_TCP);
        assert_string_equal(a.host, "127.0.0.1");
        assert_true(a.port > 0);
        assert_int_equal(a.port, ntohs(((struct sockaddr_in *)&ss)->sin_port));
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_good),  cmocka_unit_test(test_listen_only),
                cmocka_unit_test(test_parse_bad),   cmocka_unit_test(test_host_port),
                cmocka_unit_test(test_print),       cmocka_unit_test(test_from_sockaddr),
                cmocka_unit_test(test_real_socket),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
