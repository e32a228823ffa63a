package io.github.openaiproxy.benchmarks.ledger;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.HashMap;
import java.util.Map;
import javax.sql.DataSource;

/**
 * CPU time per ledger record, split between the ledger's writer thread ({@code openai-proxy-ledger}, through the
 * JVM) and the PostgreSQL server (through {@code /proc}, so only when the server runs on this machine): the
 * benchmark's own backends (told by their application name), and the server's background processes (WAL writer,
 * checkpointer, autovacuum launcher; not the short-lived autovacuum workers), and this JVM's garbage collector.
 */
final class CpuMeter {
    private static final String WRITER = "openai-proxy-ledger";

    private final DataSource ds;
    private final String app;
    private final Map<Long, Long> backendStart;
    private final long postmaster;
    private final long backgroundStart;
    private final long gcStart;

    private CpuMeter(DataSource ds, String app, Map<Long, Long> backendStart, long postmaster) {
        this.ds = ds;
        this.app = app;
        this.backendStart = backendStart;
        this.postmaster = postmaster;
        this.backgroundStart = background();
        this.gcStart = gc();
    }

    /** CPU ticks of this JVM's garbage collector threads: the garbage the writer makes costs there. */
    private static long gc() {
        long sum = 0;
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path t : (Iterable<Path>) tasks::iterator) {
                try {
                    String comm = Files.readString(t.resolve("comm")).trim();
                    if (comm.startsWith("GC ") || comm.startsWith("G1 ")) {
                        String[] f = stat(Long.parseLong(t.getFileName().toString()), t);
                        sum += field(f, 14) + field(f, 15);
                    }
                } catch (IOException | RuntimeException e) {
                    // gone meanwhile
                }
            }
        } catch (IOException e) {
            return 0;
        }
        return sum;
    }

    /** The CPU ticks of each of the benchmark's backends now. */
    private static Map<Long, Long> backends(DataSource ds, String app) throws Exception {
        Map<Long, Long> ticks = new HashMap<>();
        try (Connection c = ds.getConnection();
                PreparedStatement p = c.prepareStatement(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = ? AND datname = current_database()")) {
            p.setString(1, app);
            try (ResultSet rs = p.executeQuery()) {
                while (rs.next()) {
                    ticks.put(rs.getLong(1), ticks(rs.getLong(1)));
                }
            }
        }
        return ticks;
    }

    static CpuMeter start(DataSource ds, String app) throws Exception {
        Map<Long, Long> backends = backends(ds, app);
        long postmaster = -1;
        try (Connection c = ds.getConnection()) {
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
                rs.next();
                postmaster = field(stat(rs.getLong(1)), 4); // ppid
            }
        } catch (RuntimeException | IOException e) {
            System.out.println("cpu: PostgreSQL's processes are not readable here (" + e + ")");
        }
        return new CpuMeter(ds, app, backends, postmaster);
    }

    void report(long records) throws Exception {
        Map<Long, Long> backendsNow = backends(ds, app);
        long backendTicks = 0;
        for (Map.Entry<Long, Long> e : backendsNow.entrySet()) {
            backendTicks += e.getValue() - backendStart.getOrDefault(e.getKey(), 0L); // a new one started at 0
        }
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long writerNanos = -1;
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals(WRITER)) {
                writerNanos = mx.getThreadCpuTime(t.getId());
            }
        }
        long tick = 10_000; // microseconds per clock tick (USER_HZ = 100)
        double backend = backendTicks * tick / (double) records;
        double background = (background() - backgroundStart) * tick / (double) records;
        double writer = writerNanos / 1000.0 / records;
        double gc = (gc() - gcStart) * tick / (double) records;
        System.out.printf(
                "cpu per record: writer thread %.2f us, JVM GC %.2f us (the producer's garbage too), PostgreSQL"
                        + " backends %.2f us (%d), PostgreSQL background %.2f us; writer + PostgreSQL = %.2f us%n",
                writer, gc, backend, backendsNow.size(), background, writer + backend + background);
    }

    /** utime + stime + (for the postmaster) reaped children of the server's non-client processes. */
    private long background() {
        if (postmaster < 0) {
            return 0;
        }
        long sum = 0;
        try (var dirs = Files.list(Path.of("/proc"))) {
            for (Path d : (Iterable<Path>) dirs::iterator) {
                String name = d.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) {
                    continue;
                }
                long pid = Long.parseLong(name);
                try {
                    String[] f = stat(pid);
                    if (pid == postmaster) {
                        sum += field(f, 14) + field(f, 15);
                    } else if (field(f, 4) == postmaster) {
                        String cmd = Files.readString(d.resolve("cmdline"));
                        if (!cmd.contains("(")) { // a client backend's shows its client address(port)
                            sum += field(f, 14) + field(f, 15);
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    // gone meanwhile
                }
            }
        } catch (IOException e) {
            return 0;
        }
        return sum;
    }

    private static long ticks(long pid) {
        try {
            String[] f = stat(pid);
            return field(f, 14) + field(f, 15);
        } catch (IOException | RuntimeException e) {
            return 0; // not here
        }
    }

    /** /proc/pid/stat's fields after the command; field(f, n) is the man page's field n. */
    private static String[] stat(long pid) throws IOException {
        return stat(pid, Path.of("/proc/" + pid));
    }

    private static String[] stat(long pid, Path dir) throws IOException {
        String s = Files.readString(dir.resolve("stat"));
        return s.substring(s.lastIndexOf(')') + 2).split(" ");
    }

    private static long field(String[] f, int n) {
        return Long.parseLong(f[n - 3]);
    }
}
