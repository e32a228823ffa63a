package io.github.openaiproxy.core.images;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Reader;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;

/**
 * The {@link ImageStore} in one directory: the bytes of an image in a file named by its id, its metadata in
 * {@code <id>.meta} beside it. Both are written under a temporary name and then moved into place, the metadata
 * last, so a crash never leaves a half-written image under its real name (an image without metadata is
 * unknown). Instances that share the directory (a network file system) share the images.
 */
public final class FilesystemImageStore implements ImageStore {
    private static final String META = ".meta";
    private static final String TEMP = ".tmp-";

    private final Path directory;
    private final Clock clock;

    private FilesystemImageStore(Path directory, Clock clock) {
        this.directory = directory;
        this.clock = clock;
    }

    /** A store in {@code directory}, created if missing. */
    public static FilesystemImageStore create(Path directory) {
        return create(directory, Clock.systemUTC());
    }

    /** A store in {@code directory} with a clock for creation times. */
    public static FilesystemImageStore create(Path directory, Clock clock) {
        Objects.requireNonNull(directory, "directory");
        try {
            Files.createDirectories(directory);
        } catch (IOException e) {
            throw new ImageStoreException("could not create the image directory " + directory, e);
        }
        return new FilesystemImageStore(directory.toAbsolutePath().normalize(), Objects.requireNonNull(clock));
    }

    /** The directory images are kept in. */
    public Path directory() {
        return directory;
    }

    @Override
    public StoredImage put(String id, String contentType, String owner, InputStream bytes, long maxSize) {
        ImageIds.check(id);
        Intake.checkContentType(contentType);
        Path data = directory.resolve(id);
        Path temp = directory.resolve(TEMP + ImageIds.newId());
        Intake in = new Intake(bytes, maxSize);
        try {
            try {
                Files.copy(in, temp);
            } catch (IOException e) {
                Files.deleteIfExists(temp);
                if (in.tooLarge()) {
                    throw new ImageTooLargeException(maxSize);
                }
                throw e;
            }
            StoredImage image = new StoredImage(id, contentType, in.count(), in.sha256(), owner, clock.instant());
            if (Files.exists(directory.resolve(id + META))) {
                Files.deleteIfExists(temp);
                throw new IllegalArgumentException("image id already stored");
            }
            move(temp, data);
            Path metaTemp = directory.resolve(TEMP + ImageIds.newId());
            Properties p = new Properties();
            p.setProperty("contentType", image.contentType());
            p.setProperty("size", Long.toString(image.size()));
            p.setProperty("sha256", image.sha256());
            p.setProperty("createdAt", image.createdAt().toString());
            if (owner != null) {
                p.setProperty("owner", owner);
            }
            try {
                try (OutputStream out = Files.newOutputStream(metaTemp, StandardOpenOption.CREATE_NEW)) {
                    p.store(new java.io.OutputStreamWriter(out, StandardCharsets.UTF_8), null);
                }
                move(metaTemp, directory.resolve(id + META));
            } catch (IOException e) {
                // A full disk fails here, after the bytes: without metadata nothing would ever delete them.
                Files.deleteIfExists(metaTemp);
                Files.deleteIfExists(data);
                throw e;
            }
            return image;
        } catch (IOException e) {
            throw new ImageStoreException("could not store an image in " + directory, e);
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @Override
    public Optional<StoredImage> find(String id) {
        if (!ImageIds.isValid(id)) {
            return Optional.empty();
        }
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(directory.resolve(id + META), StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new ImageStoreException("could not read an image's metadata", e);
        }
        return Optional.of(new StoredImage(
                id,
                p.getProperty("contentType"),
                Long.parseLong(p.getProperty("size")),
                p.getProperty("sha256"),
                p.getProperty("owner"),
                Instant.parse(p.getProperty("createdAt"))));
    }

    @Override
    public Optional<InputStream> open(String id, long offset, long length) {
        if (find(id).isEmpty()) {
            return Optional.empty();
        }
        try {
            FileChannel channel = FileChannel.open(directory.resolve(id), StandardOpenOption.READ);
            channel.position(offset);
            return Optional.of(new Bounded(Channels.newInputStream(channel), length));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new ImageStoreException("could not read an image", e);
        }
    }

    @Override
    public boolean delete(String id) {
        if (!ImageIds.isValid(id)) {
            return false;
        }
        try {
            // The metadata first: without it the image is unknown at once.
            boolean existed = Files.deleteIfExists(directory.resolve(id + META));
            Files.deleteIfExists(directory.resolve(id));
            return existed;
        } catch (IOException e) {
            throw new ImageStoreException("could not delete an image", e);
        }
    }

    @Override
    public int deleteExpired(Instant before) {
        int deleted = 0;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                if (name.endsWith(META)) {
                    String id = name.substring(0, name.length() - META.length());
                    Optional<StoredImage> image = safeFind(id);
                    if (image.isPresent() && image.get().createdAt().isBefore(before) && delete(id)) {
                        deleted++;
                    }
                } else if ((name.startsWith(TEMP)
                                || (ImageIds.isValid(name) && !Files.exists(directory.resolve(name + META))))
                        && modifiedBefore(file, before)) {
                    // left by a crash: a temporary file, or an image's bytes whose metadata never followed
                    Files.deleteIfExists(file);
                }
            }
        } catch (IOException e) {
            throw new ImageStoreException("could not delete expired images", e);
        }
        return deleted;
    }

    /** Whether {@code file} was last written before {@code before}; a file deleted meanwhile was not. */
    private static boolean modifiedBefore(Path file, Instant before) throws IOException {
        try {
            return Files.getLastModifiedTime(file).toInstant().isBefore(before);
        } catch (NoSuchFileException e) {
            return false; // deleted with its metadata earlier in this sweep, or by another instance
        }
    }

    private Optional<StoredImage> safeFind(String id) {
        try {
            return find(id);
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }
}
