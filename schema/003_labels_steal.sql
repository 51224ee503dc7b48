-- seatmeter schema, version 3: an agent's free labels, and CPU steal time.

-- The labels of the agent's last Hello (--label key=value), as a JSON object with sorted keys; '{}' for
-- none, NULL before the agent's first Hello under this version.
ALTER TABLE agents ADD COLUMN labels TEXT;

-- Steal: CPU time the hypervisor gave this VM's vCPUs to others, per second, over effective_cpus (known
-- only when the agent measures a whole VM); and the cumulative counter it comes from.
ALTER TABLE samples ADD COLUMN steal_ratio REAL;
ALTER TABLE samples ADD COLUMN cpu_steal_usec INTEGER;

ALTER TABLE trends ADD COLUMN steal_ratio_n INTEGER;
ALTER TABLE trends ADD COLUMN steal_ratio_min REAL;
ALTER TABLE trends ADD COLUMN steal_ratio_sum REAL;
ALTER TABLE trends ADD COLUMN steal_ratio_max REAL;
