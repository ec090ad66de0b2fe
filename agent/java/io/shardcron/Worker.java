/* agent/java/io/shardcron/Worker.java: the warm JVM worker (agent/javaw.c).
 *
 * Usage: java -cp shardcron-java.jar:CLASSPATH io.shardcron.Worker JOB_CLASS
 *
 * Protocol, one flat JSON object per line:
 *   agent -> worker (stdin):
 *     {"op":"run","id":EXEC_ID,"job":..,"shard_item":..,"shard_total":..,
 *      "shard_param":..,"job_param":..,"fire_time":..,"trigger":..,"attempt":..
 *      [,"fence":..,"epoch":..]}
 *     {"op":"cancel","id":EXEC_ID}     interrupt that execution's thread
 *     {"op":"ping","seq":N}
 *   worker -> agent (stdout):
 *     {"event":"ready","class":..}     once the job class is loaded
 *     {"event":"fatal","error":..}     the class cannot be used; the worker exits
 *     {"event":"result","id":..,"status":"succeeded|failed","error":..,"output":..}
 *     {"event":"pong","seq":N}
 * Each run gets a new job instance on a thread of its own. What jobs print to
 * System.out/err goes to the worker's stderr (the worker log), never into the
 * protocol. EOF on stdin ends the worker. */
package io.shardcron;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

public final class Worker {
    private final Class<? extends ShardJob> jobClass;
    private final PrintStream proto;
    private final Map<String, Thread> running = new ConcurrentHashMap<>();

    private Worker(Class<? extends ShardJob> jobClass, PrintStream proto) {
        this.jobClass = jobClass;
        this.proto = proto;
    }

    public static void main(String[] args) throws Exception {
        PrintStream proto = new PrintStream(new FileOutputStream(FileDescriptor.out), false,
                                            StandardCharsets.UTF_8);
        System.setOut(System.err);
        if (args.length != 1) {
            send(proto, Json.object("event", "fatal", "error", "usage: Worker JOB_CLASS"));
            System.exit(2);
        }
        Class<? extends ShardJob> cls;
        try {
            cls = loadJob(args[0]);
        } catch (Exception e) {
            send(proto, Json.object("event", "fatal", "error", describe(e)));
            System.exit(3);
            return;
        }
        send(proto, Json.object("event", "ready", "class", args[0]));
        new Worker(cls, proto).loop();
    }

    static Class<? extends ShardJob> loadJob(String name) throws Exception {
        Class<?> c = Class.forName(name);
        if (!ShardJob.class.isAssignableFrom(c))
            throw new IllegalArgumentException(name + " does not implement io.shardcron.ShardJob");
        c.getConstructor();
        return c.asSubclass(ShardJob.class);
    }

    static String describe(Throwable t) {
        String m = t.getMessage();
        return t.getClass().getName() + (m == null ? "" : ": " + m);
    }

    private static void send(PrintStream out, String line) {
        synchronized (out) {
            out.print(line);
            out.print('\n');
            out.flush();
        }
    }

    private void loop() throws Exception {
        BufferedReader in =
            new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty())
                continue;
            Map<String, String> m;
            try {
                m = Json.parse(line);
            } catch (IllegalArgumentException e) {
                System.err.println("shardcron worker: bad request: " + e.getMessage());
                continue;
            }
            String op = m.get("op");
            if ("run".equals(op))
                run(m);
            else if ("cancel".equals(op))
                cancel(m.get("id"));
            else if ("ping".equals(op))
                send(proto, Json.object("event", "pong", "seq", m.get("seq")));
            else
                System.err.println("shardcron worker: unknown op " + op);
        }
        System.exit(0);
    }

    private void run(Map<String, String> m) {
        String id = m.get("id");
        ShardContext ctx = ShardContext.fromMap(m);
        Thread t = new Thread(() -> {
            String status = "succeeded", error = null;
            try {
                ShardJob job = jobClass.getConstructor().newInstance();
                job.execute(ctx);
            } catch (Throwable e) {
                status = "failed";
                error = describe(e);
            } finally {
                running.remove(id);
            }
            send(proto, Json.object("event", "result", "id", id, "status", status, "error", error,
                                    "output", ctx.outputTail()));
        }, "shardcron-" + id);
        t.setDaemon(true);
        running.put(id, t);
        t.start();
    }

    private void cancel(String id) {
        Thread t = id == null ? null : running.get(id);
        if (t != null)
            t.interrupt();
    }
}
