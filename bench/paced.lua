-- wrk script: offer requests at a fixed rate instead of as fast as the server answers.
--
--   RATE=20000 wrk -t1 -c32 -d10s --latency -s bench/paced.lua URL
--
-- RATE is the total over all threads (WRK_THREADS, default 1, must match -t). Every request takes the
-- next slot of its thread's schedule and waits for it, so a slow answer does not lower the offered
-- rate: a connection that falls behind sends at once until it has caught up. wrk times each request
-- from when it is sent, so the latencies are those of requests arriving at RATE (what a fleet of
-- pollers produces), not of a closed loop saturating the CPUs.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } seatmeter_timespec;
int clock_gettime(int clk, seatmeter_timespec *ts);
]]

local ts = ffi.new("seatmeter_timespec")
local function now_ms()
        ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
        return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local rate = tonumber(os.getenv("RATE") or "")
local threads = tonumber(os.getenv("WRK_THREADS") or "1")
if not rate or rate <= 0 then
        error("paced.lua: set RATE to the requests per second to offer")
end
local interval = 1000 * threads / rate
local next_slot

function delay()
        local t = now_ms()
        if not next_slot then
                next_slot = t
        end
        local slot = next_slot
        next_slot = next_slot + interval
        if slot <= t then
                return 0
        end
        return math.floor(slot - t)
end
