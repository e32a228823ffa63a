package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The spool's shared bound holds under many uploads at once, and its files go when deleted or on close. */
class UploadSpoolTest {
    @TempDir
    Path dir;

    private long files() throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.count();
        }
    }

    @Test
    void manyUploadsAtOnceNeverSpoolMoreThanTheBound() throws Exception {
        long cap = 1024 * 1024;
        UploadSpool spool = new UploadSpool(dir, cap);
        AtomicLong peak = new AtomicLong();
        ExecutorService threads = Executors.newFixedThreadPool(8);
        List<UploadSpool.SpoolFile> opened = new ArrayList<>();
        try {
            List<Future<Long>> written = new ArrayList<>();
            for (int i = 0; i < 32; i++) {
                UploadSpool.SpoolFile f = spool.open();
                opened.add(f);
                written.add(threads.submit(() -> {
                    long n = 0;
                    while (f.append(ByteBuffer.wrap(new byte[16 * 1024]))) {
                        n += 16 * 1024;
                        peak.accumulateAndGet(spool.used(), Math::max);
                    }
                    return n;
                }));
            }
            long total = 0;
            for (Future<Long> w : written) {
                total += w.get();
            }
            assertThat(total).isEqualTo(cap);
            assertThat(peak.get()).isLessThanOrEqualTo(cap);
            assertThat(files()).isEqualTo(32);

            opened.get(0).delete();
            opened.get(0).delete(); // again: nothing more given back
            assertThat(spool.used()).isEqualTo(cap - opened.get(0).size());
            assertThat(files()).isEqualTo(31);
        } finally {
            threads.shutdownNow();
        }
        spool.close();
        assertThat(files()).isZero();
        assertThat(spool.open()).as("closed: no new file").isNull();
    }

    /**
     * A declared length must fit beside what is spooled and reserved; it is reserved whole only within half the
     * bound: a client that declares the whole bound and sends slowly holds only what it spooled, and an upload
     * beside it still reserves what it needs, which the slow one's bytes cannot take.
     */
    @Test
    void aDeclaredLengthIsReservedOnlyWithinHalfTheBound() throws Exception {
        UploadSpool spool = new UploadSpool(dir, 1000);
        UploadSpool.SpoolFile slow = spool.open(1000);
        assertThat(slow).isNotNull();
        assertThat(spool.used()).as("over half the bound: nothing reserved").isZero();
        assertThat(slow.append(ByteBuffer.wrap(new byte[100]))).isTrue();
        assertThat(spool.used()).isEqualTo(100);
        assertThat(spool.open(901)).as("does not fit beside what is spooled").isNull();

        UploadSpool.SpoolFile other = spool.open(400);
        assertThat(other).as("fits beside the slow one's bytes").isNotNull();
        assertThat(spool.used()).as("reserved whole").isEqualTo(500);
        assertThat(spool.open(101))
                .as("half the bound is reserved already: counted as spooled")
                .isNotNull();
        assertThat(slow.append(ByteBuffer.wrap(new byte[600])))
                .as("the slow one cannot take the other's reservation")
                .isFalse();
        assertThat(other.append(ByteBuffer.wrap(new byte[400]))).isTrue();
        assertThat(spool.used()).as("spent from its reservation").isEqualTo(500);
        assertThat(other.append(ByteBuffer.wrap(new byte[450])))
                .as("past it, as spooled")
                .isTrue();
        assertThat(slow.append(ByteBuffer.wrap(new byte[51])))
                .as("past the bound")
                .isFalse();
        other.delete();
        other.delete();
        assertThat(spool.used()).isEqualTo(100);
        slow.delete();
        assertThat(spool.used()).isZero();
        assertThat(spool.open(-1)).isNull();
        UploadSpool.SpoolFile gone = spool.open(300);
        assertThat(spool.used()).isEqualTo(300);
        gone.delete();
        assertThat(spool.used()).as("an unspent reservation given back").isZero();
        spool.close();
    }

    @Test
    void aSpoolOfZeroIsOffAndAnUnwritableDirectoryOpensNothing() {
        assertThat(new UploadSpool(dir, 0).enabled()).isFalse();
        assertThat(new UploadSpool(dir.resolve("missing"), 100).open()).isNull();
    }

    /**
     * At start the spool deletes what a proxy killed mid-upload left: its own naming only, regular files only (a
     * symlink planted under that name, and what it points to, stay), never a file another live process sharing the
     * directory is writing, nor one of this JVM's other engines.
     */
    @Test
    void atStartTheFilesOfAProxyThatDiedAreDeletedAndNoOthers() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        long dead = gone.pid();
        long self = ProcessHandle.current().pid();
        long other = ProcessHandle.current().parent().orElseThrow().pid(); // alive, started before us
        java.nio.file.attribute.FileTime longAgo =
                java.nio.file.attribute.FileTime.from(java.time.Instant.now().minus(java.time.Duration.ofDays(2)));

        Path crashed = Files.write(dir.resolve("openai-proxy-upload-" + dead + "-1234.spool"), new byte[100]);
        Path reused = Files.write(dir.resolve("openai-proxy-upload-" + self + "-77.spool"), new byte[10]);
        Files.setLastModifiedTime(reused, longAgo); // our pid, from before this JVM: a container's pid 1 again
        Path oldNaming = Files.write(dir.resolve("openai-proxy-upload-4242.spool"), new byte[10]);
        Files.setLastModifiedTime(oldNaming, longAgo);

        Path secondInstance = Files.write(dir.resolve("openai-proxy-upload-" + other + "-5.spool"), new byte[10]);
        Path sibling = Files.write(dir.resolve("openai-proxy-upload-" + self + "-6.spool"), new byte[10]);
        Path freshOldNaming = Files.write(dir.resolve("openai-proxy-upload-99.spool"), new byte[10]);
        Path target = Files.write(Files.createTempDirectory("target").resolve("precious"), new byte[10]);
        Path link = Files.createSymbolicLink(dir.resolve("openai-proxy-upload-" + dead + "-9.spool"), target);
        Path subdir = Files.createDirectory(dir.resolve("openai-proxy-upload-" + dead + "-8.spool"));
        Path foreign = Files.write(dir.resolve("someone-else-" + dead + ".spool"), new byte[10]);
        Files.setLastModifiedTime(foreign, longAgo);

        UploadSpool spool = new UploadSpool(dir, 1000);

        assertThat(crashed).doesNotExist();
        assertThat(reused).doesNotExist();
        assertThat(oldNaming).doesNotExist();
        assertThat(secondInstance).as("a live instance's").exists();
        assertThat(sibling).as("this JVM's other engine's").exists();
        assertThat(freshOldNaming).as("may be an older live instance's").exists();
        assertThat(Files.isSymbolicLink(link)).as("not a file this proxy made").isTrue();
        assertThat(target).exists().hasSize(10);
        assertThat(subdir).isDirectory();
        assertThat(foreign).exists();
        spool.close();
        Files.delete(target);
    }
}
