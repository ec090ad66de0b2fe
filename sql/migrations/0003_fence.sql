-- sql/migrations/0003_fence.sql: version 3, the fencing token of an execution.
--
-- job_execution.fence is the SHARDCRON_FENCE the run was started with
-- (agent/fence.h: FIRE.EPOCH.ATTEMPT, fixed width, so string order is the order
-- of a (job, item)'s executions). NULL for fires that did not run (missed,
-- skipped) and for rows written before this version. ASCII with a binary
-- collation: the token is digits and dots, compared byte by byte. Added as the
-- last column, which MariaDB >= 10.3 and MySQL >= 8.0 do in place without
-- copying the table. Applied by `shardcronctl db migrate`.

ALTER TABLE job_execution
  ADD COLUMN fence VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NULL AFTER error;
