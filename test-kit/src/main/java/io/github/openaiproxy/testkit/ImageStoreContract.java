package io.github.openaiproxy.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.images.ImageIds;
import io.github.openaiproxy.core.images.ImageStore;
import io.github.openaiproxy.core.images.ImageTooLargeException;
import io.github.openaiproxy.core.images.StoredImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * The {@link ImageStore} compatibility kit: every implementation runs this suite by extending it and saying how
 * to get the store under test (core's filesystem store, the JDBC store on H2 and PostgreSQL, and any store of
 * another project). The same store may serve every test of a class: each test makes images of its own.
 *
 * <pre>{@code
 * class S3ImageStoreTest extends ImageStoreContract {
 *     private final ImageStore store = S3ImageStore.create(bucket);
 *
 *     protected ImageStore store() {
 *         return store;
 *     }
 * }
 * }</pre>
 */
public abstract class ImageStoreContract {
    /** The store under test. */
    protected abstract ImageStore store();

    /** {@code size} bytes of a PNG-looking image (the signature, then seeded noise). */
    protected static byte[] image(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        byte[] signature = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        System.arraycopy(signature, 0, b, 0, Math.min(size, signature.length));
        return b;
    }

    protected static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private byte[] read(String id, long offset, long length) {
        try (InputStream in = store().open(id, offset, length).orElseThrow()) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    protected void storesAnImageAndReadsTheSameBytesAndMetadataBack() {
        byte[] bytes = image(70_000, 1);
        String id = ImageIds.newId();
        Instant before = Instant.now().minusSeconds(1);
        StoredImage stored = store().put(id, "image/png", "user:alice", new ByteArrayInputStream(bytes), 1 << 20);
        assertThat(stored.id()).isEqualTo(id);
        assertThat(stored.contentType()).isEqualTo("image/png");
        assertThat(stored.size()).isEqualTo(bytes.length);
        assertThat(stored.sha256()).isEqualTo(sha256(bytes));
        assertThat(stored.etag()).isEqualTo("\"" + sha256(bytes) + "\"");
        assertThat(stored.owner()).isEqualTo("user:alice");
        assertThat(stored.createdAt()).isAfter(before);
        StoredImage found = store().find(id).orElseThrow();
        assertThat(found).usingRecursiveComparison().ignoringFields("createdAt").isEqualTo(stored);
        assertThat(found.createdAt().toEpochMilli())
                .isEqualTo(stored.createdAt().toEpochMilli());
        assertThat(read(id, 0, bytes.length)).isEqualTo(bytes);
    }

    @Test
    protected void anImageWithoutOwnerHasNone() {
        String id = ImageIds.newId();
        store().put(id, "image/webp", null, new ByteArrayInputStream(image(100, 2)), 1000);
        assertThat(store().find(id).orElseThrow().owner()).isNull();
        assertThat(store().find(id).orElseThrow().contentType()).isEqualTo("image/webp");
    }

    @Test
    protected void readsARange() {
        byte[] bytes = image(10_000, 3);
        String id = ImageIds.newId();
        store().put(id, "image/png", null, new ByteArrayInputStream(bytes), 10_000);
        assertThat(read(id, 100, 50)).isEqualTo(java.util.Arrays.copyOfRange(bytes, 100, 150));
        assertThat(read(id, 9_999, 1)).containsExactly(bytes[9_999]);
        assertThat(read(id, 0, 0)).isEmpty();
    }

    @Test
    protected void anImageOverTheCapIsRefusedAndNotKept() {
        String id = ImageIds.newId();
        assertThatThrownBy(() -> store().put(id, "image/png", null, new ByteArrayInputStream(image(5_001, 4)), 5_000))
                .isInstanceOf(ImageTooLargeException.class);
        assertThat(store().find(id)).isEmpty();
        assertThat(store().open(id, 0, 1)).isEmpty();
        // exactly the cap is fine
        String exact = ImageIds.newId();
        assertThat(store().put(exact, "image/png", null, new ByteArrayInputStream(image(5_000, 4)), 5_000)
                        .size())
                .isEqualTo(5_000);
    }

    @Test
    protected void aLargeImageIsStreamedThrough() {
        int size = 4 << 20;
        byte[] bytes = image(size, 5);
        String id = ImageIds.newId();
        StoredImage stored = store().put(id, "image/png", null, new ByteArrayInputStream(bytes), size);
        assertThat(stored.sha256()).isEqualTo(sha256(bytes));
        assertThat(sha256(read(id, 0, size))).isEqualTo(sha256(bytes));
        assertThat(read(id, size - 10, 10)).isEqualTo(java.util.Arrays.copyOfRange(bytes, size - 10, size));
    }

    @Test
    protected void malformedIdsAreUnknownAndRefused() {
        String known = ImageIds.newId();
        store().put(known, "image/png", null, new ByteArrayInputStream(image(10, 6)), 100);
        List<String> bad = List.of(
                "",
                "../" + known,
                known + "/..",
                "..",
                known.substring(0, known.length() - 1),
                known + "x",
                "img_" + "a".repeat(10_000),
                known.replace("img_", "IMG_"),
                "' OR 1=1 --",
                known + ".meta",
                "img_%2e%2e%2f" + "a".repeat(20));
        for (String id : bad) {
            assertThat(ImageIds.isValid(id)).as(id).isFalse();
            assertThat(store().find(id)).as(id).isEmpty();
            assertThat(store().open(id, 0, 1)).as(id).isEmpty();
            assertThat(store().delete(id)).as(id).isFalse();
            assertThatThrownBy(() -> store().put(id, "image/png", null, new ByteArrayInputStream(new byte[1]), 10))
                    .as(id)
                    .isInstanceOf(IllegalArgumentException.class);
        }
        assertThat(store().find(null)).isEmpty();
        assertThat(store().find(ImageIds.newId())).isEmpty();
        assertThat(store().find(known)).isPresent();
    }

    @Test
    protected void aContentTypeMustBeAnImageType() {
        for (String type : List.of("text/html", "image/png\r\nX-Evil: 1", "", "image/")) {
            assertThatThrownBy(
                            () -> store().put(ImageIds.newId(), type, null, new ByteArrayInputStream(new byte[1]), 10))
                    .as(type)
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    protected void anIdIsStoredOnce() {
        String id = ImageIds.newId();
        byte[] first = image(100, 7);
        store().put(id, "image/png", "a", new ByteArrayInputStream(first), 1000);
        assertThatThrownBy(() -> store().put(id, "image/png", "b", new ByteArrayInputStream(image(100, 8)), 1000))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(store().find(id).orElseThrow().owner()).isEqualTo("a");
        assertThat(read(id, 0, 100)).isEqualTo(first);
    }

    @Test
    protected void deletedImagesAreGone() {
        String id = ImageIds.newId();
        store().put(id, "image/png", null, new ByteArrayInputStream(image(100, 9)), 1000);
        assertThat(store().delete(id)).isTrue();
        assertThat(store().delete(id)).isFalse();
        assertThat(store().find(id)).isEmpty();
        assertThat(store().open(id, 0, 1)).isEmpty();
    }

    @Test
    protected void expiredImagesAreDeleted() {
        String id = ImageIds.newId();
        StoredImage stored = store().put(id, "image/png", null, new ByteArrayInputStream(image(100, 10)), 1000);
        store().deleteExpired(stored.createdAt().minusSeconds(60));
        assertThat(store().find(id)).isPresent();
        assertThat(store().deleteExpired(stored.createdAt().plusMillis(1))).isGreaterThanOrEqualTo(1);
        assertThat(store().find(id)).isEmpty();
        assertThat(store().open(id, 0, 1)).isEmpty();
    }

    @Test
    protected void concurrentPutsKeepEveryImage() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<StoredImage>> puts = new ArrayList<>();
            List<byte[]> bytes = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                byte[] b = image(20_000, 100 + i);
                bytes.add(b);
                puts.add(pool.submit(
                        () -> store().put(ImageIds.newId(), "image/png", null, new ByteArrayInputStream(b), 20_000)));
            }
            for (int i = 0; i < puts.size(); i++) {
                StoredImage s = puts.get(i).get();
                assertThat(read(s.id(), 0, s.size())).isEqualTo(bytes.get(i));
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
