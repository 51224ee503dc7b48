/* Unit tests of agent/link.c: connect URIs, and a connect over a real unix socket. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "link.h"

static void test_parse_good(void **state)
{
        LinkAddress a;

        assert_int_equal(link_parse_uri("unix:/run/seatmeter/ingest.sock", &a), 0);
        assert_int_equal(a.kind, LINK_UNIX);
        assert_string_equal(a.path, "/run/seatmeter/ingest.sock");
        assert_int_equal(link_parse_uri("unix:@seatmeter", &a), 0);
        assert_string_equal(a.path, "@seatmeter");
        assert_int_equal(link_parse_uri("unix:relative.sock", &a), 0);

        assert_int_equal(link_parse_uri("tcp:127.0.0.1:8481", &a), 0);
        assert_int_equal(a.kind, LINK_TCP);
        assert_string_equal(a.host, "127.0.0.1");
        assert_int_equal(a.port, 8481);
        assert_int_equal(link_parse_uri("tcp:[::1]:1", &a), 0);
        assert_string_equal(a.host, "::1");
        assert_int_equal(a.port, 1);
        assert_int_equal(link_parse_uri("tcp:daemon.example.org:65535", &a), 0);
        assert_string_equal(a.host, "daemon.example.org");

        assert_int_equal(link_parse_uri("vsock:2:8481", &a), 0);
        assert_int_equal(a.kind, LINK_VSOCK);
        assert_int_equal(a.cid, 2);
        assert_int_equal(a.vsock_port, 8481);
        assert_int_equal(link_parse_uri("vsock:host:5", &a), 0);
        assert_int_equal(a.cid, 2);
        assert_int_equal(link_parse_uri("vsock:local:5", &a), 0);
        assert_int_equal(a.cid, 1);
        assert_string_equal(link_kind_to_string(LINK_VSOCK), "vsock");
}

static void test_parse_bad(void **state)
{
        char longpath[200], longhost[400];
        LinkAddress a = {.port = 42};

        assert_int_equal(link_parse_uri(NULL, &a), -EINVAL);
        assert_int_equal(link_parse_uri("", &a), -EINVAL);
        assert_int_equal(link_parse_uri("udp:1.2.3.4:5", &a), -EINVAL);
        assert_int_equal(link_parse_uri("unix:", &a), -EINVAL);
        assert_int_equal(link_parse_uri("unix:@", &a), -EINVAL);
        assert_int_equal(link_parse_uri("tcp:", &a), -EINVAL);
        assert_int_equal(link_parse_uri("tcp:host", &a), -EINVAL);
        assert_int_equal(link_parse_uri("tcp::80", &a), -EINVAL);
        assert_int_equal(link_parse_uri("tcp:host:", &a), -EINVAL);
        assert_int_equal(link_parse_uri("tcp:host:0", &a), -ERANGE);
        assert_int_equal(link_parse_uri("tcp:host:65536", &a), -ERANGE);
        assert_int_equal(link_parse_uri("tcp:host:-1", &a), -EINVAL);
        assert_int_equal(link_parse_uri("tcp:host:8o", &a), -EINVAL);
        assert_int_equal(link_parse_uri("tcp:host: 80", &a), -EINVAL);
        assert_int_equal(link_parse_uri("tcp:::1:80", &a), -EINVAL);
        assert_int_equal(link_parse_uri("tcp:[::1]80", &a), -EINVAL);
        assert_int_equal(link_parse_uri("tcp:[::1:80", &a), -EINVAL);
        assert_int_equal(link_parse_uri("tcp:ho st:80", &a), -EINVAL);
        assert_int_equal(link_parse_uri("tcp:99999999999999999999999:80", &a),
                         0); /* a name, for getaddrinfo */
        assert_int_equal(link_parse_uri("vsock:2", &a), -EINVAL);
        assert_int_equal(link_parse_uri("vsock::5", &a), -EINVAL);
        assert_int_equal(link_parse_uri("vsock:x:5", &a), -EINVAL);
        assert_int_equal(link_parse_uri("vsock:4294967295:5", &a), -ERANGE);
        assert_int_equal(link_parse_uri("vsock:3:4294967296", &a), -ERANGE);

        memset(longpath, 'p', sizeof(longpath));
        memcpy(longpath, "unix:/", 6);
        longpath[sizeof(longpath) - 1] = 0;
        assert_int_equal(link_parse_uri(longpath, &a), -ENAMETOOLONG);
        memset(longhost, 'h', sizeof(longhost));
        memcpy(longhost, "tcp:", 4);
        memcpy(longhost + sizeof(longhost) - 4, ":80", 4);
        assert_int_equal(link_parse_uri(longhost, &a), -ENAMETOOLONG);

        /* A failed parse leaves the output alone. */
        assert_int_equal(link_parse_uri("tcp:host:7", &a), 0);
        assert_int_equal(link_parse_uri("tcp:host:0", &a), -ERANGE);
        assert_int_equal(a.port, 7);
}

static void test_connect_unix(void **state)
{
        char dir[] = "/tmp/test-link-XXXXXX", uri[128];
        struct sockaddr_un su = {.sun_family = AF_UNIX};
        LinkAddress a;
        int lfd, fd = -1, cfd, r;

        assert_non_null(mkdtemp(dir));
        snprintf(su.sun_path, sizeof(su.sun_path), "%s/s", dir);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(lfd >= 0);
        assert_int_equal(bind(lfd, (struct sockaddr *)&su, sizeof(su)), 0);
        assert_int_equal(listen(lfd, 4), 0);

        snprintf(uri, sizeof(uri), "unix:%s", su.sun_path);
        assert_int_equal(link_parse_uri(uri, &a), 0);
        r = link_connect(&a, &fd);
        assert_true(r == 0 || r == 1);
        if (r == 1) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                assert_int_equal(poll(&p, 1, 5000), 1);
        }
        assert_int_equal(link_connect_finish(fd), 0);
        cfd = accept(lfd, NULL, NULL);
        assert_true(cfd >= 0);
        assert_int_equal(write(fd, "x", 1), 1);
        close(cfd);
        close(fd);

        /* Nobody listening any more. */
        close(lfd);
        assert_int_equal(unlink(su.sun_path), 0);
        assert_int_equal(link_connect(&a, &fd), -ENOENT);
        assert_int_equal(rmdir(dir), 0);
}

static void test_connect_tcp_refused(void **state)
{
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sin);
        LinkAddress a;
        char uri[64];
        int s, fd = -1, r;

        /* Find a free port by binding and closing: nothing listens there afterwards. */
        s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s >= 0);
        assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
        close(s);

        snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%u", ntohs(sin.sin_port));
        assert_int_equal(link_parse_uri(uri, &a), 0);
        r = link_connect(&a, &fd);
        if (r == 1) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                assert_int_equal(poll(&p, 1, 5000), 1);
                r = link_connect_finish(fd);
                close(fd);
        }
        assert_int_equal(r, -ECONNREFUSED);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_good),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_connect_unix),
                cmocka_unit_test(test_connect_tcp_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
