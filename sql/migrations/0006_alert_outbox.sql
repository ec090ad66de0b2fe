-- sql/migrations/0006_alert_outbox.sql: version 6, alert delivery (docs/alerts.md).
--
-- alert_outbox: one row per notice per channel. The leader's alert thread
-- inserts a notice (state `new`, no channel yet) in the same transaction that
-- decides it (alert_event INSERT/UPDATE), so a decided notice is never lost to
-- a crash or a receiver outage. Routing (the job's channels) turns it into
-- `pending`; the sender claims due rows with a conditional UPDATE (claim token
-- and lease), so two leaders never hold the same row, and marks the result
-- only while its claim still stands. A channel down longer than the failover
-- bound leaves its row `failed_over` and a copy on the next channel; a row
-- that can go nowhere is `dead`; a reminder or escalation of an acknowledged
-- or silenced alert is `suppressed`.
-- alert_ack: acknowledgement, silence and escalation state of one alert_event.
-- alert_key: the key (one row) that signs acknowledgement links; made by the
-- leader on first use, read by the console.

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
