package io.github.openaiproxy.core.images;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.testkit.ImageStoreContract;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
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
}
