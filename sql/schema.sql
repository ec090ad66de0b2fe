-- sql/schema.sql: the history store's full current schema (MariaDB/MySQL, InnoDB).
-- Applied by scripts/mysql on a fresh database and by `shardcronctl db migrate` on
-- an empty one; it must equal sql/migrations/*.sql applied in order (a test checks
-- SHOW CREATE TABLE of both). It records its version, so `db migrate` afterwards is
-- a no-op. Idempotent. Character set and collation come from the database
-- (utf8mb4 / utf8mb4_bin: job names are case-sensitive). See docs/history.md.

CREATE TABLE IF NOT EXISTS schema_version (
  version     INT NOT NULL PRIMARY KEY,
  applied_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS job_execution (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  execution_id  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  job           VARCHAR(128) NOT NULL,
  item          INT NOT NULL,
  fire_time     DATETIME(3) NOT NULL,
  trigger_type  ENUM('cron','manual','failover','misfire','retry') NOT NULL,
  attempt       SMALLINT UNSIGNED NOT NULL DEFAULT 1,
  agent         VARCHAR(128) NOT NULL DEFAULT '',
  host          VARCHAR(255) NOT NULL DEFAULT '',
  status        ENUM('queued','running','succeeded','failed','timeout','killed','skipped','missed','paused') NOT NULL,
  exit_code     INT NULL,
  exit_signal   SMALLINT NULL,
  queued_at     DATETIME(3) NULL,
  started_at    DATETIME(3) NULL,
  finished_at   DATETIME(3) NULL,
  output_tail   VARBINARY(4096) NULL,
  error         VARCHAR(1024) NULL,
  fence         VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_fire (job, item, fire_time, attempt, trigger_type),
  UNIQUE KEY uk_execution (execution_id),
  KEY ix_job_time (job, fire_time),
  KEY ix_status_time (status, fire_time),
  KEY ix_agent_time (agent, fire_time),
  KEY ix_fire_time (fire_time)
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS job_status_trace (
  execution_id  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  state         ENUM('queued','running','succeeded','failed','timeout','killed','skipped','missed','paused') NOT NULL,
  at            DATETIME(3) NOT NULL,
  message       VARCHAR(512) NULL,
  seq           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  PRIMARY KEY (execution_id, state),
  UNIQUE KEY uk_seq (seq),
  KEY ix_at (at)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS job_daily_stats (
  job              VARCHAR(128) NOT NULL,
  day              DATE NOT NULL,
  total            INT UNSIGNED NOT NULL DEFAULT 0,
  queued           INT UNSIGNED NOT NULL DEFAULT 0,
  running          INT UNSIGNED NOT NULL DEFAULT 0,
  succeeded        INT UNSIGNED NOT NULL DEFAULT 0,
  failed           INT UNSIGNED NOT NULL DEFAULT 0,
  timeout          INT UNSIGNED NOT NULL DEFAULT 0,
  killed           INT UNSIGNED NOT NULL DEFAULT 0,
  skipped          INT UNSIGNED NOT NULL DEFAULT 0,
  missed           INT UNSIGNED NOT NULL DEFAULT 0,
  duration_p50_ms  INT UNSIGNED NULL,
  duration_p95_ms  INT UNSIGNED NULL,
  duration_max_ms  INT UNSIGNED NULL,
  updated_at       DATETIME(3) NOT NULL,
  PRIMARY KEY (job, day),
  KEY ix_day (day)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS alert_event (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  kind          ENUM('failed','timeout','missed','no_agent','no_failover','agent',
                     'run_failed','run_overdue','task_failed','sensor_late') NOT NULL,
  job           VARCHAR(128) NULL,
  item          INT NULL,
  agent         VARCHAR(128) NULL,
  execution_id  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  fire_time     DATETIME(3) NULL,
  domain        VARCHAR(128) NULL,
  domain_level  INT NULL,
  job_level     INT NULL,
  message       VARCHAR(1024) NOT NULL DEFAULT '',
  raised_at     DATETIME(3) NOT NULL,
  notified_at   DATETIME(3) NULL,
  resolved_at   DATETIME(3) NULL,
  task          VARBINARY(64) NULL,
  PRIMARY KEY (id),
  KEY ix_raised (raised_at),
  KEY ix_job_raised (job, raised_at),
  KEY ix_open (resolved_at, raised_at)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS audit_log (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  at           DATETIME(3) NOT NULL,
  username     VARCHAR(64) NOT NULL,
  action       VARCHAR(32) NOT NULL,
  object_type  VARCHAR(32) NOT NULL,
  object_name  VARCHAR(255) NOT NULL,
  before_json  MEDIUMTEXT NULL,
  after_json   MEDIUMTEXT NULL,
  source       VARCHAR(64) NULL,
  PRIMARY KEY (id),
  KEY ix_object (object_type, object_name, at),
  KEY ix_user (username, at),
  KEY ix_at (at)
) ENGINE=InnoDB;

-- username is binary: compared byte for byte, no PAD SPACE (migration 0004).
CREATE TABLE IF NOT EXISTS app_user (
  username    VARBINARY(64) NOT NULL,
  pw_hash     VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  role        ENUM('viewer','operator','admin') NOT NULL,
  disabled    TINYINT(1) NOT NULL DEFAULT 0,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (username)
) ENGINE=InnoDB;

-- Workflow history (migration 0005): ids and names VARBINARY, times in ms, an
-- output up to 65,536 bytes of JSON in a MEDIUMBLOB; rows move only forward in seq.
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

CREATE TABLE IF NOT EXISTS alert_outbox (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  alert_id     BIGINT UNSIGNED NOT NULL,
  event        VARCHAR(16) NOT NULL,
  job          VARCHAR(128) NOT NULL DEFAULT '',
  notice       TEXT NOT NULL,
  route        TEXT NULL,
  channel_idx  INT NOT NULL DEFAULT 0,
  channel      VARCHAR(16) NOT NULL DEFAULT '',
  state        ENUM('new','pending','sent','failed_over','dead','suppressed') NOT NULL,
  attempts     INT NOT NULL DEFAULT 0,
  next_try     DATETIME(3) NOT NULL,
  first_fail   DATETIME(3) NULL,
  last_error   VARCHAR(255) NOT NULL DEFAULT '',
  claim        VARCHAR(96) NULL,
  claim_until  DATETIME(3) NULL,
  created_at   DATETIME(3) NOT NULL,
  sent_at      DATETIME(3) NULL,
  PRIMARY KEY (id),
  KEY ix_due (state, next_try),
  KEY ix_alert (alert_id),
  KEY ix_claim (claim)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS alert_ack (
  alert_id        BIGINT UNSIGNED NOT NULL,
  acked_at        DATETIME(3) NULL,
  acked_by        VARCHAR(128) NULL,
  silenced_until  DATETIME(3) NULL,
  escalate        TEXT NULL,
  level           INT NOT NULL DEFAULT 0,
  escalate_at     DATETIME(3) NULL,
  notice          TEXT NULL,
  PRIMARY KEY (alert_id),
  KEY ix_escalate (escalate_at)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS alert_key (
  id   INT NOT NULL,
  k    VARBINARY(64) NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;

INSERT IGNORE INTO schema_version (version) VALUES (1), (2), (3), (4), (5), (6), (7), (8);
