package io.github.openaiproxy.core.images;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.testkit.ImageStoreContract;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The filesystem store passes the kit, and leaves nothing half-written under an image's name. */
class FilesystemImageStoreTest extends ImageStoreContract {
    @TempDir
    static Path directory;

    private static FilesystemImageStore store;

    @Override
    protected ImageStore store() {
        if (store == null) {
            store = FilesystemImageStore.create(directory.resolve("images"));
        }
        return store;
    }

    @Test
    void anImageCutAtTheCapLeavesNoFileBehind() throws Exception {
        Path dir = directory.resolve("cut");
        FilesystemImageStore s = FilesystemImageStore.create(dir);
        try {
            s.put(ImageIds.newId(), "image/png", null, new ByteArrayInputStream(image(2_000, 1)), 1_000);
        } catch (ImageTooLargeException expected) {
            // below
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files).isEmpty();
        }
    }

    @Test
    void anImageWithoutItsMetadataIsUnknown() throws Exception {
        Path dir = directory.resolve("crash");
        FilesystemImageStore s = FilesystemImageStore.create(dir);
        String id = ImageIds.newId();
        Files.write(dir.resolve(id), image(10, 2)); // a crash between the two moves
        assertThat(s.find(id)).isEmpty();
        assertThat(s.open(id, 0, 1)).isEmpty();
    }

    @Test
    void theExpirySweepDeletesAnImageLeftWithoutItsMetadata() throws Exception {
        Path dir = directory.resolve("orphans");
        FilesystemImageStore s = FilesystemImageStore.create(dir);
        // a crash (or a full disk) between the two moves: the bytes under the image's name, no metadata
        String old = ImageIds.newId();
        Files.write(dir.resolve(old), image(10, 3));
        Files.setLastModifiedTime(dir.resolve(old), FileTime.from(Instant.now().minus(Duration.ofDays(2))));
        // one being written now: its metadata follows in a moment
        String fresh = ImageIds.newId();
        Files.write(dir.resolve(fresh), image(10, 4));
        String kept = s.put(ImageIds.newId(), "image/png", null, new ByteArrayInputStream(image(10, 5)), 1_000)
                .id();

        s.deleteExpired(Instant.now().minus(Duration.ofDays(1)));

        assertThat(Files.exists(dir.resolve(old))).isFalse();
        assertThat(Files.exists(dir.resolve(fresh))).isTrue();
        assertThat(s.find(kept)).isPresent();
        assertThat(Files.exists(dir.resolve(kept))).isTrue();
    }
}
