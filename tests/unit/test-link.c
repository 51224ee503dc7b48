/* Unit tests of agent/link.c: connects over real sockets (the address grammar: test-address.c). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "link.h"

static void test_connect_unix(void **state)
{
        char dir[] = "/tmp/test-link-XXXXXX", uri[128];
        struct sockaddr_un su = {.sun_family = AF_UNIX};
        SocketAddress a;
        int lfd, fd = -1, cfd, r;

        assert_non_null(mkdtemp(dir));
        snprintf(su.sun_path, sizeof(su.sun_path), "%s/s", dir);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(lfd >= 0);
        assert_int_equal(bind(lfd, (struct sockaddr *)&su, sizeof(su)), 0);
        assert_int_equal(listen(lfd, 4), 0);

        snprintf(uri, sizeof(uri), "unix:%s", su.sun_path);
        assert_int_equal(address_parse(uri, ADDRESS_CONNECT, &a), 0);
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
        SocketAddress a;
        char uri[64];
        int s, fd = -1, r;

        /* Find a free port by binding and closing: nothing listens there afterwards. */
        s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s >= 0);
        assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
        close(s);

        snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%u", ntohs(sin.sin_port));
        assert_int_equal(address_parse(uri, ADDRESS_CONNECT, &a), 0);
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
                cmocka_unit_test(test_connect_unix),
                cmocka_unit_test(test_connect_tcp_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
