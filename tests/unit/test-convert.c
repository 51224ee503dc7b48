/* Unit tests of agent/convert.c: AgentSample -> Sample / Hello, and the bytes a sample costs. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "convert.h"
#include "proto/frame.h"

/* A typical sample of a BBB guest after days of uptime: cgroup v1, two interfaces, no PSI. */
static void typical(AgentSample *s)
{
        memset(s, 0, sizeof(*s));
        s->time_ms = 1764000000123;
        s->seq = 86400 * 3;
        s->virt = AGENT_VIRT_LXC;
        s->mode = CGROUP_MODE_HYBRID;
        s->cgroup_version = 1;
        strcpy(s->cgroup_path, "/lxc/bbb1");
        s->limits.has_effective_cpus = true;
        s->limits.effective_cpus = 2;
        s->limits.cpu_count = 2;
        strcpy(s->limits.cpuset, "0-23");
        s->limits.has_quota = true;
        s->limits.quota_us = 200000;
        s->limits.period_us = 100000;
        s->limits.has_memory_limit = s->limits.has_cgroup_memory_limit = true;
        s->limits.memory_limit_bytes = 8ULL << 30;
        s->limits.host_cpus = 24;
        s->limits.host_memory_bytes = 128ULL << 30;

        s->has_cpu_usage = s->has_cpu_user_system = s->has_cpu_throttling = true;
        s->cpu_usage_usec = 3ULL * 86400 * 1000000 * 2 / 3;
        s->cpu_user_usec = s->cpu_usage_usec * 3 / 4;
        s->cpu_system_usec = s->cpu_usage_usec / 4;
        s->cpu_nr_periods = 3ULL * 864000;
        s->cpu_nr_throttled = 12345;
        s->cpu_throttled_usec = 987654321;
        s->has_memory_usage = s->has_memory_working_set = s->has_memory_cache = s->has_memory_anon = true;
        s->has_memory_swap = s->has_memory_oom_kills = true;
        s->memory_usage_bytes = 5ULL << 30;
        s->memory_working_set_bytes = 3ULL << 30;
        s->memory_cache_bytes = 2ULL << 30;
        s->memory_anon_bytes = (3ULL << 30) - 12345;
        s->memory_swap_bytes = 0;
        s->memory_oom_kills = 0;
        s->has_io = true;
        s->io_read_bytes = 40ULL << 30;
        s->io_write_bytes = 120ULL << 30;
        s->io_read_ops = 3000000;
        s->io_write_ops = 9000000;
        s->has_net = true;
        s->n_net = 2;
        strcpy(s->net[0].name, "eth0");
        s->net[0].rx_bytes = 900ULL << 30;
        s->net[0].tx_bytes = 1500ULL << 30;
        s->net[0].rx_packets = 1200000000;
        s->net[0].tx_packets = 1600000000;
        s->net[0].rx_dropped = 17;
        strcpy(s->net[1].name, "eth1");
        s->net[1].rx_bytes = 5ULL << 30;
        s->net[1].tx_bytes = 1ULL << 30;
        s->net[1].rx_packets = 7000000;
        s->net[1].tx_packets = 3000000;
}

static size_t wire_size(const AgentSample *s, bool with_limits)
{
        _cleanup_free_ uint8_t *packed = NULL;
        struct iovec iov;
        size_t size;

        assert_int_equal(convert_sample_pack(s, with_limits, &packed, &size), 0);
        iov = (struct iovec){.iov_base = packed, .iov_len = size};
        return frame_samples_size(&iov, 1, false);
}

static void test_sample_fields(void **state)
{
        _cleanup_free_ AgentSample *s = malloc(sizeof(AgentSample));
        _cleanup_free_ uint8_t *packed = NULL;
        Seatmeter__Sample *m;
        size_t size;

        assert_non_null(s);
        typical(s);
        s->has_io = false; /* not read: must be absent, not zero */
        s->memory_pressure.has_some = true;
        s->memory_pressure.some_total_usec = 42;
        s->memory_pressure.some_avg10 = 1.5;
        assert_int_equal(convert_sample_pack(s, true, &packed, &size), 0);
        m = seatmeter__sample__unpack(NULL, size, packed);
        assert_non_null(m);
        assert_int_equal(m->seq, s->seq);
        assert_true(m->time_ms == s->time_ms);
        assert_non_null(m->limits);
        assert_true(m->limits->effective_cpus == 2.0);
        assert_string_equal(m->limits->cpuset, "0-23");
        assert_true(m->limits->quota_us == 200000);
        assert_false(m->limits->has_swap_limit_bytes);
        assert_int_equal(m->cpu_usage_usec, s->cpu_usage_usec);
        assert_int_equal(m->cpu_nr_throttled, 12345);
        assert_true(m->has_memory_swap_bytes);
        assert_int_equal(m->memory_swap_bytes, 0);
        assert_false(m->has_io_read_bytes);
        assert_false(m->has_io_write_ops);
        assert_int_equal(m->n_net, 2);
        assert_string_equal(m->net[1]->name, "eth1");
        assert_int_equal(m->net[0]->rx_dropped, 17);
        assert_null(m->cpu_pressure);
        assert_non_null(m->memory_pressure);
        assert_int_equal(m->memory_pressure->some_total_usec, 42);
        assert_false(m->memory_pressure->has_full_total_usec);
        assert_false(m->memory_pressure->has_some_avg10);
        seatmeter__sample__free_unpacked(m, NULL);

        /* Without limits: the field is absent. */
        free(packed);
        packed = NULL;
        assert_int_equal(convert_sample_pack(s, false, &packed, &size), 0);
        m = seatmeter__sample__unpack(NULL, size, packed);
        assert_non_null(m);
        assert_null(m->limits);
        seatmeter__sample__free_unpacked(m, NULL);
}

static void test_nothing_read(void **state)
{
        _cleanup_free_ AgentSample *s = calloc(1, sizeof(AgentSample));
        _cleanup_free_ uint8_t *packed = NULL;
        Seatmeter__Sample *m;
        size_t size;

        assert_non_null(s);
        s->seq = 1;
        s->time_ms = 5;
        s->has_net = true; /* read, but no interface besides lo */
        assert_int_equal(convert_sample_pack(s, false, &packed, &size), 0);
        m = seatmeter__sample__unpack(NULL, size, packed);
        assert_non_null(m);
        assert_false(m->has_cpu_usage_usec);
        assert_false(m->has_memory_usage_bytes);
        assert_int_equal(m->n_net, 0);
        seatmeter__sample__free_unpacked(m, NULL);
        assert_true(size <= 6);
}

static void test_limits_equal(void **state)
{
        _cleanup_free_ AgentSample *a = malloc(sizeof(AgentSample)), *b = malloc(sizeof(AgentSample));

        assert_non_null(a);
        assert_non_null(b);
        typical(a);
        typical(b);
        b->limits.cpuset[10] = 'z'; /* after the NUL: does not count */
        assert_true(convert_limits_equal(&a->limits, &b->limits));
        b->limits.memory_limit_bytes--;
        assert_false(convert_limits_equal(&a->limits, &b->limits));
        typical(b);
        b->limits.has_quota = false;
        assert_false(convert_limits_equal(&a->limits, &b->limits));
        typical(b);
        strcpy(b->limits.cpuset, "0-1");
        assert_false(convert_limits_equal(&a->limits, &b->limits));
}

static void test_unterminated_strings(void **state)
{
        _cleanup_free_ AgentSample *s = malloc(sizeof(AgentSample));
        _cleanup_free_ uint8_t *packed = NULL;
        Seatmeter__Sample *m;
        size_t size;

        assert_non_null(s);
        typical(s);
        memset(s->net[0].name, 'x', sizeof(s->net[0].name));     /* no NUL */
        memset(s->limits.cpuset, '1', sizeof(s->limits.cpuset)); /* no NUL */
        assert_int_equal(convert_sample_pack(s, true, &packed, &size), 0);
        m = seatmeter__sample__unpack(NULL, size, packed);
        assert_non_null(m);
        assert_int_equal(strlen(m->net[0]->name), AGENT_IFNAME_MAX);
        assert_null(m->limits->cpuset);
        seatmeter__sample__free_unpacked(m, NULL);
}

static void test_hello(void **state)
{
        _cleanup_free_ AgentSample *s = malloc(sizeof(AgentSample));
        _cleanup_free_ WireHello *w = malloc(sizeof(WireHello));
        _cleanup_free_ uint8_t *buf = NULL;
        Seatmeter__Frame f = SEATMETER__FRAME__INIT, *g;
        HelloInfo info = {
                .agent_id = "bbb1-lxc",
                .token = "t0k",
                .hostname = "bbb1",
                .machine_id = "",
                .agent_version = "0.1.0",
                .clock_ms = 1764000000000,
        };
        size_t size;

        assert_non_null(s);
        assert_non_null(w);
        typical(s);
        convert_hello(&info, s, w);
        f.msg_case = SEATMETER__FRAME__MSG_HELLO;
        f.hello = &w->hello;
        assert_int_equal(frame_encode(&f, &buf, &size), 0);
        assert_int_equal(frame_decode_one(buf, size, 0, &g), (ssize_t)size);
        assert_int_equal(g->hello->protocol_version, FRAME_PROTOCOL_VERSION);
        assert_string_equal(g->hello->agent_id, "bbb1-lxc");
        assert_string_equal(g->hello->token, "t0k");
        assert_null(g->hello->machine_id); /* empty: left out */
        assert_int_equal(g->hello->virt, SEATMETER__VIRT__VIRT_LXC);
        assert_int_equal(g->hello->cgroup_version, 1);
        assert_string_equal(g->hello->cgroup_mode, "hybrid");
        assert_string_equal(g->hello->cgroup_path, "/lxc/bbb1");
        assert_true(g->hello->clock_ms == 1764000000000);
        assert_int_equal(g->hello->limits->memory_limit_bytes, 8ULL << 30);
        assert_int_equal(g->hello->limits->host_cpus, 24);
        seatmeter__frame__free_unpacked(g, NULL);
}

/* The budget: under 200 bytes on the wire for a typical sample, frame prefix included. */
static void test_wire_size(void **state)
{
        _cleanup_free_ AgentSample *s = malloc(sizeof(AgentSample));
        size_t plain, with_limits, one_if, psi;

        assert_non_null(s);
        typical(s);
        plain = wire_size(s, false);
        with_limits = wire_size(s, true);
        s->n_net = 1;
        one_if = wire_size(s, false);
        s->n_net = 2;
        s->cpu_pressure.has_some = s->memory_pressure.has_some = s->io_pressure.has_some = true;
        s->memory_pressure.has_full = s->io_pressure.has_full = true;
        s->cpu_pressure.some_total_usec = 123456789;
        s->memory_pressure.some_total_usec = s->io_pressure.some_total_usec = 23456789;
        s->memory_pressure.full_total_usec = s->io_pressure.full_total_usec = 3456789;
        psi = wire_size(s, false);
        printf("# wire bytes per sample: 2 interfaces %zu, 1 interface %zu, with limits %zu, with PSI %zu\n",
               plain, one_if, with_limits, psi);
        assert_true(plain < 200);
        assert_true(one_if < plain);
        assert_true(with_limits > plain);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sample_fields), cmocka_unit_test(test_nothing_read),
                cmocka_unit_test(test_limits_equal),  cmocka_unit_test(test_unterminated_strings),
                cmocka_unit_test(test_hello),         cmocka_unit_test(test_wire_size),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
