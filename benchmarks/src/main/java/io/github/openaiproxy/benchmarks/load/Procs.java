package io.github.openaiproxy.benchmarks.load;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Process helpers on Linux's /proc and the JDK's jcmd: CPU time, memory, threads, heap after GC. */
final class Procs {
    /** Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux). */
    private static final long TICKS_PER_SECOND = 100;

    private Procs() {}

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void awaitPort(int port, Duration timeout, Process owner) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (owner != null && !owner.isAlive()) {
                throw new IllegalStateException(
                        "process exited while starting: " + owner.info().commandLine());
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return;
            } catch (IOException e) {
                Thread.sleep(50);
            }
        }
        throw new IllegalStateException("nothing listens on port " + port + " after " + timeout);
    }

    /** User plus system CPU time of a process (all its threads), in milliseconds; 0 when it is gone. */
    static long cpuMillis(long pid) {
        String stat = read(Path.of("/proc", Long.toString(pid), "stat"));
        if (stat == null) {
            return 0;
        }
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        // fields 14 and 15 (utime, stime), counted from 1 with pid and comm as 1 and 2
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 1000 / TICKS_PER_SECOND;
    }

    /** CPU time per thread group (Java thread names from jcmd, digits stripped), in milliseconds. */
    static Map<String, Long> cpuMillisByThreadGroup(long pid) {
        Map<String, Long> m = new LinkedHashMap<>();
        Map<Long, String> names = javaThreadNames(pid);
        try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks.toList()) {
                String stat = read(t.resolve("stat"));
                if (stat == null) {
                    continue;
                }
                long tid = Long.parseLong(t.getFileName().toString());
                String comm = names.getOrDefault(tid, stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                long ms = (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 1000 / TICKS_PER_SECOND;
                m.merge(threadGroup(comm), ms, Long::sum);
            }
        } catch (IOException e) {
            // the process is gone
        }
        return m;
    }

    /** Native thread id to Java thread name, from {@code jcmd PID Thread.print}; empty when jcmd fails. */
    static Map<Long, String> javaThreadNames(long pid) {
        Map<Long, String> names = new java.util.HashMap<>();
        try {
            String dump = run(List.of("jcmd", Long.toString(pid), "Thread.print"), Duration.ofSeconds(30));
            Matcher m = Pattern.compile("(?m)^\"([^\"]*)\".* nid=0x([0-9a-f]+)").matcher(dump);
            while (m.find()) {
                names.put(Long.parseLong(m.group(2), 16), m.group(1));
            }
        } catch (RuntimeException e) {
            // names stay the kernel's 15-character ones
        }
        return names;
    }

    static String threadGroup(String comm) {
        String g = comm.replaceAll("[0-9]+", "#");
        if (g.startsWith("G#") || g.startsWith("GC Thr") || g.startsWith("VM Thread")) {
            return "GC and VM";
        }
        if (g.startsWith("C#") && g.contains("Compiler")) {
            return "JIT compiler";
        }
        if (g.startsWith("ForkJoinPool.commonPool")) {
            return "common pool";
        }
        if (g.startsWith("Thread-#")) {
            return "unnamed threads";
        }
        if (g.contains("-exec-")) {
            return "Tomcat workers (exec)";
        }
        if (g.contains("-Poller")) {
            return "Tomcat poller";
        }
        if (g.contains("-Acceptor")) {
            return "Tomcat acceptor";
        }
        if (g.contains("SelectorManager")) {
            return "JDK HttpClient selector";
        }
        if (g.startsWith("openai-proxy-upstream")) {
            return "upstream client: selector and callbacks (openai-proxy-upstream)";
        }
        return g;
    }

    /** A field of /proc/PID/status in kB (VmRSS, VmHWM) or as a count (Threads); -1 when unknown. */
    static long status(long pid, String field) {
        String s = read(Path.of("/proc", Long.toString(pid), "status"));
        if (s == null) {
            return -1;
        }
        Matcher m = Pattern.compile("(?m)^" + field + ":\\s+(\\d+)").matcher(s);
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }

    /** The open file descriptors of a process. */
    static long openFiles(long pid) {
        try (var fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return fds.count();
        } catch (IOException e) {
            return -1;
        }
    }

    /** Runs a full GC in a JVM and returns its used heap afterwards, in KiB. */
    static long heapAfterGcKib(long pid) {
        run(List.of("jcmd", Long.toString(pid), "GC.run"), Duration.ofSeconds(60));
        String info = run(List.of("jcmd", Long.toString(pid), "GC.heap_info"), Duration.ofSeconds(30));
        // G1: " garbage-first heap   total 262144K, used 12345K [...]"; Parallel/Serial: per generation
        Matcher g1 = Pattern.compile("heap\\s+total \\d+K, used (\\d+)K").matcher(info);
        if (g1.find()) {
            return Long.parseLong(g1.group(1));
        }
        Matcher gen = Pattern.compile("total \\d+K, used (\\d+)K").matcher(info);
        long used = 0;
        while (gen.find()) {
            used += Long.parseLong(gen.group(1));
        }
        if (used == 0) {
            throw new IllegalStateException("cannot read the heap from jcmd GC.heap_info: " + info);
        }
        return used;
    }

    /** The PIDs of a process's direct children (nginx workers under its master). */
    static List<Long> children(long pid) {
        List<Long> kids = new ArrayList<>();
        ProcessHandle.of(pid).ifPresent(p -> p.children().forEach(c -> kids.add(c.pid())));
        return kids;
    }

    /** Runs a command and returns its standard output; fails when it fails. */
    static String run(List<String> command, Duration timeout) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("timed out: " + command);
            }
            String text = new String(out, StandardCharsets.UTF_8);
            if (p.exitValue() != 0) {
                throw new IllegalStateException(command + " failed (" + p.exitValue() + "): " + text);
            }
            return text;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return null;
        }
    }
}
