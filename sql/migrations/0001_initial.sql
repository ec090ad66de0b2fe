-- sql/migrations/0001_initial.sql: version 1, the foundation schema (job_execution only).

CREATE TABLE IF NOT EXISTS schema_version (
  version     INT NOT NULL PRIMARY KEY,
  applied_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS job_execution (
  execution_id  CHAR(36) NOT NULL,
  job           VARCHAR(128) NOT NULL,
  item          INT NOT NULL,
  fire_time     DATETIME(3) NOT NULL,
  trigger_type  ENUM('cron','manual','failover','misfire','retry') NOT NULL,
  attempt       SMALLINT NOT NULL DEFAULT 1,
  agent         VARCHAR(128) NOT NULL DEFAULT '',
  host          VARCHAR(255) NOT NULL DEFAULT '',
  status        ENUM('queued','running','succeeded','failed','timeout','killed','skipped','missed') NOT NULL,
  exit_code     INT NULL,
  exit_signal   SMALLINT NULL,
  queued_at     DATETIME(3) NULL,
  started_at    DATETIME(3) NULL,
  finished_at   DATETIME(3) NULL,
  output_tail   VARBINARY(4096) NULL,
  error         VARCHAR(1024) NULL,
  PRIMARY KEY (execution_id),
  UNIQUE KEY uk_fire (job, item, fire_time, attempt, trigger_type),
  KEY ix_job_time (job, fire_time),
  KEY ix_status_time (status, fire_time),
  KEY ix_agent_time (agent, fire_time)
) ENGINE=InnoDB;

