/* agent/java/io/shardcron/ShardJob.java: what a Java job implements. */
package io.shardcron;

/**
 * A shardcron Java job. The worker creates one instance per execution (a public
 * no-argument constructor is required) and calls {@link #execute} on a thread of
 * its own. Returning normally means success; any exception means failure, and
 * its message is recorded. A timeout or kill interrupts the thread: long-running
 * jobs should check {@link Thread#interrupted()} or use interruptible calls.
 */
public interface ShardJob {
    void execute(ShardContext ctx) throws Exception;
}
