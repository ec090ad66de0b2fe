/* agent/java/io/shardcron/examples/Example.java: an example job whose
 * behaviour is chosen by the job parameter, used by tests and the bench:
 *   "" or "ok"   log the context and succeed
 *   "throw"      fail with an exception
 *   "sleep:MS"   sleep (interruptible), then succeed
 *   "hang"       never finish, ignoring interrupts (the worker must be killed)
 *   "exit:N"     System.exit(N): the worker process dies
 *   "beat:FILE"  never finish, ignoring interrupts, appending "MS PID ID ITEM"
 *                to FILE every 100 ms (wall clock ms, the worker's pid, the
 *                execution id): a test sees from it when the run really stopped
 *   "xcom"       a workflow run: log its context, and write {"run":RUN_ID,"in":<its input>}
 *                as its output */
package io.shardcron.examples;

import io.shardcron.ShardContext;
import io.shardcron.ShardJob;

public class Example implements ShardJob {
    @Override
    public void execute(ShardContext ctx) throws Exception {
        String p = ctx.getJobParam();
        if (p.equals("throw"))
            throw new IllegalStateException("example failure on item " + ctx.getShardItem());
        if (p.startsWith("sleep:"))
            Thread.sleep(Long.parseLong(p.substring(6)));
        if (p.equals("hang")) {
            for (;;) {
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException e) {
                    System.err.println("example: interrupted, ignoring it");
                }
            }
        }
        if (p.startsWith("beat:")) {
            java.nio.file.Path f = java.nio.file.Paths.get(p.substring(5));
            long pid = ProcessHandle.current().pid();
            for (;;) {
                String line = System.currentTimeMillis() + " " + pid + " " + ctx.getExecutionId()
                        + " " + ctx.getShardItem() + "\n";
                java.nio.file.Files.write(f, line.getBytes(java.nio.charset.StandardCharsets.UTF_8),
                        java.nio.file.StandardOpenOption.CREATE,
                        java.nio.file.StandardOpenOption.APPEND);
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    // a run that ignores its cancel: only killing the worker stops it
                }
            }
        }
        if (p.equals("xcom")) {
            ctx.log("workflow=" + ctx.getWorkflow() + " run=" + ctx.getRunId() + " task="
                    + ctx.getTask() + " logical=" + ctx.getLogicalTime() + " params="
                    + ctx.getParams());
            ctx.writeXcomOut("{\"run\":\"" + ctx.getRunId() + "\",\"in\":" + ctx.readXcomIn() + "}");
            return;
        }
        if (p.startsWith("exit:"))
            System.exit(Integer.parseInt(p.substring(5)));
        ctx.log("job=" + ctx.getJob() + " item=" + ctx.getShardItem() + "/" + ctx.getShardTotal()
                + " param=" + ctx.getShardParam() + " fire=" + ctx.getFireTime()
                + " trigger=" + ctx.getTrigger() + " attempt=" + ctx.getAttempt()
                + " id=" + ctx.getExecutionId() + " fence=" + ctx.getFence()
                + " epoch=" + ctx.getEpoch());
    }
}
