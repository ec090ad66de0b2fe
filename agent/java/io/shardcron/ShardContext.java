/* agent/java/io/shardcron/ShardContext.java: what one execution knows (the
 * same fields as the shell adapter's SHARDCRON_* environment), plus a log whose
 * last 4 KiB go into the execution's history record. */
package io.shardcron;

import java.util.Map;

public final class ShardContext {
    static final int TAIL_MAX = 4096;

    private final String job;
    private final int shardItem;
    private final int shardTotal;
    private final String shardParam;
    private final String jobParam;
    private final String fireTime;
    private final String executionId;
    private final String trigger;
    private final int attempt;
    private final String fence;
    private final long epoch;
    private final StringBuilder log = new StringBuilder();

    /** Without a fence (tests of a job outside an agent): getFence() is "". */
    public ShardContext(String job, int shardItem, int shardTotal, String shardParam,
                        String jobParam, String fireTime, String executionId, String trigger,
                        int attempt) {
        this(job, shardItem, shardTotal, shardParam, jobParam, fireTime, executionId, trigger,
             attempt, "", 0);
    }

    public ShardContext(String job, int shardItem, int shardTotal, String shardParam,
                        String jobParam, String fireTime, String executionId, String trigger,
                        int attempt, String fence, long epoch) {
        this.job = job;
        this.shardItem = shardItem;
        this.shardTotal = shardTotal;
        this.shardParam = shardParam;
        this.jobParam = jobParam;
        this.fireTime = fireTime;
        this.executionId = executionId;
        this.trigger = trigger;
        this.attempt = attempt;
        this.fence = fence == null ? "" : fence;
        this.epoch = epoch;
    }

    static ShardContext fromMap(Map<String, String> m) {
        return new ShardContext(str(m, "job"), num(m, "shard_item"), num(m, "shard_total"),
                                str(m, "shard_param"), str(m, "job_param"),
                                str(m, "fire_time"), str(m, "id"), str(m, "trigger"),
                                num(m, "attempt"), str(m, "fence"), lnum(m, "epoch"));
    }

    static ShardContext fromEnv(Map<String, String> env) {
        return new ShardContext(str(env, "SHARDCRON_JOB"), num(env, "SHARDCRON_SHARD_ITEM"),
                                num(env, "SHARDCRON_SHARD_TOTAL"),
                                str(env, "SHARDCRON_SHARD_PARAM"), str(env, "SHARDCRON_JOB_PARAM"),
                                str(env, "SHARDCRON_FIRE_TIME"),
                                str(env, "SHARDCRON_EXECUTION_ID"), str(env, "SHARDCRON_TRIGGER"),
                                num(env, "SHARDCRON_ATTEMPT"), str(env, "SHARDCRON_FENCE"),
                                lnum(env, "SHARDCRON_EPOCH"));
    }

    private static String str(Map<String, String> m, String k) {
        String v = m.get(k);
        return v == null ? "" : v;
    }

    private static int num(Map<String, String> m, String k) {
        try {
            return Integer.parseInt(str(m, k));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static long lnum(Map<String, String> m, String k) {
        try {
            return Long.parseLong(str(m, k));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    public String getJob() { return job; }
    public int getShardItem() { return shardItem; }
    public int getShardTotal() { return shardTotal; }
    public String getShardParam() { return shardParam; }
    public String getJobParam() { return jobParam; }
    /** The scheduled time, ISO 8601 with offset (not the start time). */
    public String getFireTime() { return fireTime; }
    public String getExecutionId() { return executionId; }
    /** cron, manual, failover, misfire or retry. */
    public String getTrigger() { return trigger; }
    public int getAttempt() { return attempt; }
    /**
     * The fencing token, SHARDCRON_FENCE: FIRE.EPOCH.ATTEMPT, fixed width, so a
     * larger string is a later execution of this (job, item); write it with
     * your data and refuse writes that carry a smaller one. "" when unknown.
     */
    public String getFence() { return fence; }
    /** The coordination epoch the run was started under (SHARDCRON_EPOCH); 0 when unknown. */
    public long getEpoch() { return epoch; }

    /** Append a line to the execution's output (the last 4 KiB are kept). */
    public synchronized void log(String line) {
        log.append(line).append('\n');
        if (log.length() > 2 * TAIL_MAX)
            log.delete(0, log.length() - TAIL_MAX);
    }

    synchronized String outputTail() {
        return log.length() > TAIL_MAX ? log.substring(log.length() - TAIL_MAX) : log.toString();
    }
}
