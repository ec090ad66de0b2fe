-- sql/migrations/0005_workflows.sql: version 5, the history of workflows
-- (design.md "Workflows"; docs/history.md "Workflow history").
--
-- workflow_run: one row per run of a workflow; task_instance: one row per task
-- of a run; task_xcom: one row per item of a task that wrote an output. The
-- driver reports every state change through the history writer; each report is
-- the whole state of its row at the driver's version `seq`, and a row only
-- takes a report whose seq is >= its own, so a late or replayed report never
-- moves it back. Names and ids are VARBINARY: ASCII by rule, compared byte for
-- byte (no PAD SPACE, see 0004). Times are milliseconds since the epoch (UTC),
-- as the driver and the C API speak them. task_xcom.output is MEDIUMBLOB: an
-- output may be 65,536 bytes of JSON, one more than BLOB/TEXT hold (Airflow's
-- XCom on MySQL was cut there). Applied by `shardcronctl db migrate`.

CREATE TABLE IF NOT EXISTS workflow_run (
  run_id       VARBINARY(80) NOT NULL,
  workflow     VARBINARY(48) NOT NULL,
  logical_ms   BIGINT NOT NULL,
  run_trigger  ENUM('schedule','manual','backfill') NOT NULL,
  state        ENUM('queued','running','succeeded','failed','cancelled') NOT NULL,
  params       TEXT NOT NULL,
  created_ms   BIGINT NOT NULL,
  started_ms   BIGINT NULL,
  ended_ms     BIGINT NULL,
  seq          BIGINT NOT NULL,
  PRIMARY KEY (run_id),
  UNIQUE KEY uk_logical (workflow, logical_ms),
  KEY ix_retention (ended_ms, created_ms)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS task_instance (
  run_id      VARBINARY(80) NOT NULL,
  task        VARBINARY(64) NOT NULL,
  state       ENUM('waiting','queued','running','sensing','retrying','succeeded','failed','upstream_failed','skipped','cancelled') NOT NULL,
  attempt     INT NOT NULL DEFAULT 0,
  items       INT NOT NULL DEFAULT 0,
  started_ms  BIGINT NULL,
  ended_ms    BIGINT NULL,
  reason      VARCHAR(400) NULL,
  seq         BIGINT NOT NULL,
  PRIMARY KEY (run_id, task)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS task_xcom (
  run_id   VARBINARY(80) NOT NULL,
  task     VARBINARY(64) NOT NULL,
  item     INT NOT NULL,
  attempt  INT NOT NULL DEFAULT 0,
  output   MEDIUMBLOB NULL,
  seq      BIGINT NOT NULL,
  PRIMARY KEY (run_id, task, item)
) ENGINE=InnoDB;
