/* agent/java/io/shardcron/Run.java: run one job once in a fresh JVM, from the
 * SHARDCRON_* environment (the cold `java -cp` path; the warm path is Worker).
 * Usage: java -cp shardcron-java.jar:CLASSPATH io.shardcron.Run JOB_CLASS
 * Exit status 0 on success, 1 when the job threw, 2 on bad usage. */
package io.shardcron;

public final class Run {
    private Run() {}

    public static void main(String[] args) {
        if (args.length != 1) {
            System.err.println("usage: Run JOB_CLASS");
            System.exit(2);
        }
        ShardContext ctx = ShardContext.fromEnvWithWorkflow(System.getenv());
        int rc = 0;
        try {
            Worker.loadJob(args[0]).getConstructor().newInstance().execute(ctx);
        } catch (Throwable e) {
            System.err.println(Worker.describe(e));
            rc = 1;
        }
        System.out.print(ctx.outputTail());
        System.out.flush();
        System.exit(rc);
    }
}
