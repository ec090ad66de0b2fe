-- bench/history/gen.sql: one chunk of synthetic history for the query benchmark.
-- Run with @chunk = 0..9 (1,000,000 rows each) and @base = the fire time of the
-- first round. 2000 jobs x 8 items fire in rounds 4147 s apart (625 rounds = 30
-- days); 50 agents; 95% succeeded, 2% failed, 1% timeout, 1% killed, 1% skipped.
-- Execution ids are time-ordered (hex sequence first), as the writer recommends.
INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, attempt, agent,
  host, status, exit_code, queued_at, started_at, finished_at, error)
SELECT CONCAT(LPAD(HEX(n), 10, '0'), '-', n MOD 16000),
       CONCAT('job-', n MOD 2000),
       (n MOD 16000) DIV 2000,
       ft,
       'cron', 1,
       CONCAT('agent-', n MOD 50),
       CONCAT('host-', n MOD 50),
       ELT(1 + (n MOD 100 >= 95) + (n MOD 100 >= 97) + (n MOD 100 >= 98) + (n MOD 100 >= 99),
           'succeeded', 'failed', 'timeout', 'killed', 'skipped'),
       IF(n MOD 100 BETWEEN 95 AND 96, 1, 0),
       ft + INTERVAL 5000 MICROSECOND,
       ft + INTERVAL 10000 MICROSECOND,
       ft + INTERVAL (10 + n MOD 120000) * 1000 MICROSECOND,
       IF(n MOD 100 BETWEEN 95 AND 96, 'exit status 1', NULL)
FROM (SELECT seq + @chunk * 1000000 AS n,
             @base + INTERVAL ((seq + @chunk * 1000000) DIV 16000 * 4147
                               + (seq + @chunk * 1000000) MOD 2000 MOD 60) SECOND AS ft
      FROM seq_0_to_999999) g;
COMMIT;
