-- sql/migrations/0008_alert_state.sql: incremental alert evaluation and the
-- conditions the leader now notifies (docs/alerts.md "Evaluation").
--
-- job_status_trace.seq: an insertion order over status changes. The leader reads
-- only the trace rows past its high-water mark each alert cycle instead of
-- rescanning 24 h of job_execution; an execution row is updated in place, so its
-- own id does not tell what changed. The writer names its columns, so it needs no
-- change. alert_event: workflow kinds, and the task a workflow condition is about.
-- On a large history the first ALTER rebuilds job_status_trace (minutes at tens
-- of millions of rows): run `shardcronctl db migrate` in a quiet hour.

ALTER TABLE job_status_trace
  ADD COLUMN seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  ADD UNIQUE KEY uk_seq (seq);

ALTER TABLE alert_event
  MODIFY kind ENUM('failed','timeout','missed','no_agent','no_failover','agent',
                   'run_failed','run_overdue','task_failed','sensor_late') NOT NULL,
  ADD COLUMN task VARBINARY(64) NULL;
