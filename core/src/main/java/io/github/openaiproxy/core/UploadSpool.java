package io.github.openaiproxy.core;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where multipart uploads whose file comes before their {@code model} field are spooled while the proxy reads on for
 * the model ({@code upload-spool-dir}), and the bound on the bytes all of them spool at once ({@code
 * max-upload-spool-size}): a client cannot fill the disk by sending many uploads at once, past the bound an upload
 * is routed as if it named no model. Files are owner-only, named by the JDK (never by a part's file name) after this
 * process's id, and deleted when their call ends and on {@link #close()}; what a proxy killed mid-upload left is
 * deleted when the next one starts (see {@link #sweep}).
 */
final class UploadSpool {
    private static final System.Logger LOG = System.getLogger(ProxyEngine.class.getName());
    static final String PREFIX = "openai-proxy-upload-";
    private static final String SUFFIX = ".spool";
    private static final long PID = ProcessHandle.current().pid();
    /** A file named as before the process id was in the name: left that long, no live proxy still writes it. */
    static final Duration UNOWNED_AGE = Duration.ofDays(1);

    private final Path dir;
    private final long cap;
    private final AtomicLong used = new AtomicLong();
    /** Of {@link #used}, the bytes reserved by declared lengths and not spooled yet; at most half the bound. */
    private long ahead; // guarded by this

    private final Set<SpoolFile> live = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;
    /** Whether a failure to create a file was logged: once, not once an upload (any client could flood the log). */
    private final java.util.concurrent.atomic.AtomicBoolean warned = new java.util.concurrent.atomic.AtomicBoolean();

    UploadSpool(Path dir, long cap) {
        this.dir = dir;
        this.cap = cap;
        sweep(dir);
    }

    /**
     * Deletes the spool files of proxies that died (killed mid-upload, their {@link #close()} never ran), and no
     * others: regular files (never a symlink, whatever it points to) named {@code openai-proxy-upload-<pid>-*.spool}
     * whose process is gone, or was started after the file was last written (its id reused, as a container's is),
     * or older than {@link #UNOWNED_AGE} when named without an id (an earlier version's). A file of a live process,
     * another proxy sharing the directory or this JVM's other engine, is written as it spools, so it is never older
     * than that process.
     */
    static void sweep(Path dir) {
        Instant now = Instant.now();
        int deleted = 0;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, PREFIX + "*" + SUFFIX)) {
            for (Path p : files) {
                try {
                    BasicFileAttributes a =
                            Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    if (a.isRegularFile()
                            && abandoned(
                                    p.getFileName().toString(),
                                    a.lastModifiedTime().toInstant(),
                                    now)) {
                        // A file swapped for a symlink since: unlink removes the link, never its target.
                        if (Files.deleteIfExists(p)) {
                            deleted++;
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    LOG.log(System.Logger.Level.DEBUG, "upload spool leftover " + p + " not deleted: " + e);
                }
            }
        } catch (IOException | RuntimeException e) {
            return; // no directory (yet), or unreadable: creating files will say so
        }
        if (deleted > 0) {
            LOG.log(
                    System.Logger.Level.INFO,
                    "deleted {0} upload spool file(s) a stopped proxy left in {1}",
                    deleted,
                    dir);
        }
    }

    /** Whether the process that made a file of that name, last written then, can no longer be writing it. */
    private static boolean abandoned(String name, Instant written, Instant now) {
        String rest = name.substring(PREFIX.length(), name.length() - SUFFIX.length());
        int dash = rest.indexOf('-');
        long pid;
        try {
            pid = dash > 0 ? Long.parseLong(rest, 0, dash, 10) : -1;
        } catch (NumberFormatException e) {
            pid = -1;
        }
        if (pid <= 0) {
            return written.isBefore(now.minus(UNOWNED_AGE));
        }
        Optional<ProcessHandle> owner = ProcessHandle.of(pid);
        if (owner.isEmpty() || !owner.get().isAlive()) {
            return true;
        }
        // Alive: its own file unless written before it started (the id reused). Unknown start: keep it.
        return owner.get().info().startInstant().map(written::isBefore).orElse(false);
    }

    /** Whether anything may be spooled at all ({@code max-upload-spool-size} 0 turns spooling off). */
    boolean enabled() {
        return cap > 0;
    }

    /** The bytes spooled now, by every upload. */
    long used() {
        return used.get();
    }

    /** A new, empty spool file, or {@code null} when none can be made (the upload is then routed without it). */
    SpoolFile open() {
        return open(0);
    }

    /**
     * As {@link #open()} for an upload that declared its length, with {@code expected} bytes left to spool: {@code
     * null} when they do not fit beside what is spooled and reserved now (it goes on unspooled at once, rather than
     * spool part and run out). They are reserved whole when they fit in what is left of half the bound for
     * reservations, so that of many uploads at once some are routed rather than all taking a share and all running
     * out; otherwise they are counted as spooled. Bytes declared and not sent thus never hold more than half the
     * bound: a client that declares a length as large as the bound and sends slowly cannot keep the others from
     * spooling.
     */
    SpoolFile open(long expected) {
        if (closed || expected < 0) {
            return null;
        }
        long reserve;
        synchronized (this) {
            if (expected > 0 && expected > cap - used.get()) {
                return null;
            }
            reserve = expected <= cap / 2 - ahead ? expected : 0;
            if (reserve > 0 && used.addAndGet(reserve) > cap) { // an append in between
                used.addAndGet(-reserve);
                return null;
            }
            ahead += reserve;
        }
        SpoolFile f = create();
        if (f == null) {
            unreserve(reserve, reserve);
            return null;
        }
        synchronized (f) {
            f.counted = reserve;
        }
        return f;
    }

    /** Gives back {@code freed} bytes of the bound, {@code unspent} of them reserved and never spooled. */
    private synchronized void unreserve(long freed, long unspent) {
        ahead -= unspent;
        used.addAndGet(-freed);
    }

    private synchronized void spent(long n) {
        ahead -= n;
    }

    private SpoolFile create() {
        try {
            Path path = FileSystems.getDefault().supportedFileAttributeViews().contains("posix")
                    ? Files.createTempFile(
                            dir,
                            PREFIX + PID + "-",
                            SUFFIX,
                            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))
                    : Files.createTempFile(dir, PREFIX + PID + "-", SUFFIX);
            FileChannel channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
            SpoolFile f = new SpoolFile(path, channel);
            live.add(f);
            if (closed) {
                f.delete();
                return null;
            }
            return f;
        } catch (IOException | RuntimeException e) {
            if (warned.compareAndSet(false, true)) {
                LOG.log(
                        System.Logger.Level.WARNING,
                        "upload spool file not created in " + dir + " (logged once; such uploads go unspooled to"
                                + " the default upstream): " + e);
            }
            return null;
        }
    }

    /** Deletes every spool file still there (the engine closes). */
    void close() {
        closed = true;
        for (SpoolFile f : live) {
            f.delete();
        }
    }

    /** One upload's spool: written in order, read at any position by each attempt, deleted once. */
    final class SpoolFile {
        private final Path path;
        private final FileChannel channel;
        private long size;
        /** The bytes of the bound this file holds: what it reserved, or more once it grew past that. */
        private long counted;

        private boolean deleted;

        private SpoolFile(Path path, FileChannel channel) {
            this.path = path;
            this.channel = channel;
        }

        /** Appends the bytes if the shared bound allows them; {@code false} (nothing written) when it does not. */
        synchronized boolean append(ByteBuffer bytes) throws IOException {
            int n = bytes.remaining();
            if (deleted) {
                return false;
            }
            long fromReserve = Math.min(n, counted - size);
            long more = n - fromReserve;
            if (more > 0 && used.addAndGet(more) > cap) {
                used.addAndGet(-more);
                return false;
            }
            if (fromReserve > 0) {
                spent(fromReserve);
            }
            counted += more;
            size += n; // counted in used until deleted, whether the write finishes or not
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
            return true;
        }

        synchronized long size() {
            return size;
        }

        /** Up to {@code length} bytes from {@code position}. */
        ByteBuffer read(long position, int length) throws IOException {
            ByteBuffer out = ByteBuffer.allocate(length);
            while (out.hasRemaining()) {
                int n = channel.read(out, position + out.position());
                if (n < 0) {
                    throw new IOException("upload spool file ended early");
                }
            }
            return out.flip();
        }

        /** Closes and deletes the file and gives its bytes back to the bound; again does nothing. */
        void delete() {
            long freed;
            long unspent;
            synchronized (this) {
                if (deleted) {
                    return;
                }
                deleted = true;
                freed = counted;
                unspent = counted - size;
            }
            live.remove(this);
            unreserve(freed, unspent);
            try {
                channel.close();
            } catch (IOException e) {
                // Deleted below all the same.
            }
            try {
                Files.deleteIfExists(path);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "upload spool file " + path + " not deleted: " + e);
            }
        }
    }
}
