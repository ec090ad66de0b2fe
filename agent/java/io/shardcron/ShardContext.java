/* agent/java/io/shardcron/ShardContext.java: what one execution knows (the
 * same fields as the shell adapter's SHARDCRON_* environment), plus a log whose
 * last 4 KiB go into the execution's history record. A workflow task's run
 * also knows its workflow, run, task, logical time, params and XCom files
 * (SHARDCRON_WORKFLOW ... SHARDCRON_XCOM_OUT of a shell run). */
package io.shardcron;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.LinkedHashMap;
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
    private String workflow = "", runId = "", task = "", logicalTime = "", xcomIn = "", xcomOut = "";
    private final Map<String, String> params = new LinkedHashMap<>();

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
        ShardContext c = new ShardContext(str(m, "job"), num(m, "shard_item"), num(m, "shard_total"),
                                          str(m, "shard_param"), str(m, "job_param"),
                                          str(m, "fire_time"), str(m, "id"), str(m, "trigger"),
                                          num(m, "attempt"), str(m, "fence"), lnum(m, "epoch"));
        c.workflow = str(m, "workflow");
        c.runId = str(m, "run_id");
        c.task = str(m, "task");
        c.logicalTime = str(m, "logical_time");
        c.xcomIn = str(m, "xcom_in");
        c.xcomOut = str(m, "xcom_out");
        for (Map.Entry<String, String> e : m.entrySet())
            if (e.getKey().startsWith("param."))
                c.params.put(e.getKey().substring(6), e.getValue() == null ? "" : e.getValue());
        return c;
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

    static ShardContext fromEnvWithWorkflow(Map<String, String> env) {
        ShardContext c = fromEnv(env);
        c.workflow = str(env, "SHARDCRON_WORKFLOW");
        c.runId = str(env, "SHARDCRON_RUN_ID");
        c.task = str(env, "SHARDCRON_TASK");
        c.logicalTime = str(env, "SHARDCRON_LOGICAL_TIME");
        c.xcomIn = str(env, "SHARDCRON_XCOM_IN");
        c.xcomOut = str(env, "SHARDCRON_XCOM_OUT");
        for (Map.Entry<String, String> e : env.entrySet())
            if (e.getKey().startsWith("SHARDCRON_PARAM_"))
                c.params.put(e.getKey().substring(16), e.getValue());
        return c;
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

    /** The workflow of a workflow task's run; "" for any other run. */
    public String getWorkflow() { return workflow; }
    public String getRunId() { return runId; }
    public String getTask() { return task; }
    /** The workflow run's logical (scheduled) time, ISO 8601 with offset. */
    public String getLogicalTime() { return logicalTime; }
    /** The workflow run's params (SHARDCRON_PARAM_NAME of a shell run). */
    public Map<String, String> getParams() { return Collections.unmodifiableMap(params); }
    public String getParam(String name) { return params.get(name); }
    /** Path of the upstream outputs, {"task":{"item":JSON}} ("" when not a workflow run). */
    public String getXcomInPath() { return xcomIn; }
    /** Path where this item's output goes: JSON, at most 65536 bytes ("" when not a workflow run). */
    public String getXcomOutPath() { return xcomOut; }

    /** The upstream outputs as JSON text ("{}" when none). */
    public String readXcomIn() throws IOException {
        if (xcomIn.isEmpty())
            return "{}";
        return new String(Files.readAllBytes(Paths.get(xcomIn)), StandardCharsets.UTF_8);
    }

    /** This item's output: JSON text, checked by the agent when the run ends. */
    public void writeXcomOut(String json) throws IOException {
        if (xcomOut.isEmpty())
            throw new IllegalStateException("not a workflow task's run: no XCom output");
        Files.write(Paths.get(xcomOut), json.getBytes(StandardCharsets.UTF_8));
    }

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
