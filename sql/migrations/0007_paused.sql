-- sql/migrations/0007_paused.sql: version 7, the `paused` status of an execution.
--
-- A fire inside a pause window (docs/pauses.md) is not run and is recorded with
-- status `paused`: it was not missed, so it is never alerted as missed, and the
-- history says why it did not run. The value is appended to the ENUMs of
-- job_execution.status and job_status_trace.state: appending keeps every
-- existing value's number (the writer's rank uses them), and MariaDB and MySQL
-- change an ENUM's tail in place, without copying the table. Applied by
-- `shardcronctl db migrate`.

ALTER TABLE job_execution
  MODIFY status ENUM('queued','running','succeeded','failed','timeout','killed','skipped','missed','paused') NOT NULL;

ALTER TABLE job_status_trace
  MODIFY state ENUM('queued','running','succeeded','failed','timeout','killed','skipped','missed','paused') NOT NULL;
