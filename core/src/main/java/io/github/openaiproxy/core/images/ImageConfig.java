package io.github.openaiproxy.core.images;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * How generated images are stored and served (settings {@code images.*}).
 *
 * @param store where images are kept: {@link Store#NONE} (the default: the upstream's links are relayed as they
 *     come), {@link Store#FILESYSTEM} or {@link Store#JDBC}
 * @param directory the filesystem store's directory; default {@code ./data/images}
 * @param publicBaseUrl the absolute base the proxy's image links start with (scheme, host and mount path, such
 *     as {@code https://example.com/openai}); {@code null}, the default, makes them relative to the mount path
 * @param fetchHosts the hosts an upstream image link may be fetched from, besides the upstream's own host;
 *     default OpenAI's image host
 * @param storeB64 whether images that came as {@code b64_json} are stored too when a session records the
 *     generation (the answer keeps its {@code b64_json} and names no link); default {@code true}
 * @param privateImages whether an image made by an identified caller is served only to that caller; default
 *     {@code true}. Images of anonymous callers have no owner: the unguessable id is the capability
 * @param retention how long an image is kept; {@code null}, the default, keeps images until deleted
 * @param maxSize the most bytes of one image; 0, the default, means the proxy's {@code max-body-size}
 * @param fetchTimeout how long fetching one upstream link may take; default 30 seconds. Each image of an answer,
 *     fetched and written, has twice this before the answer goes out unstored
 * @param s3 the S3 store's bucket and access ({@code images.s3.*}), used when the store is {@link Store#S3}
 */
public record ImageConfig(
        Store store,
        Path directory,
        URI publicBaseUrl,
        List<String> fetchHosts,
        boolean storeB64,
        boolean privateImages,
        Duration retention,
        long maxSize,
        Duration fetchTimeout,
        S3Config s3) {
    /** Where images are kept. */
    public enum Store {
        /** Not stored: the upstream's links are relayed as they come. */
        NONE,
        /** In a directory ({@link FilesystemImageStore}). */
        FILESYSTEM,
        /** In a database table ({@link JdbcImageStore}); the host passes the store to the engine. */
        JDBC,
        /** In an S3 bucket ({@link S3ImageStore}, with the AWS SDK for Java v2 on the class path). */
        S3;

        /** The store named {@code none}, {@code filesystem}, {@code jdbc} or {@code s3}. */
        public static Store parse(String name) {
            try {
                return valueOf(name.strip().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("images.store must be none, filesystem, jdbc or s3: " + name);
            }
        }
    }

    /** OpenAI's host for generated images. */
    public static final String OPENAI_IMAGE_HOST = "oaidalleapiprodscus.blob.core.windows.net";
    /** The default of {@link #directory}. */
    public static final Path DEFAULT_DIRECTORY = Path.of("./data/images");
    /** The default of {@link #fetchTimeout}. */
    public static final Duration DEFAULT_FETCH_TIMEOUT = Duration.ofSeconds(30);

    /** Images not stored. */
    public static final ImageConfig DEFAULTS = new ImageConfig(
            Store.NONE,
            DEFAULT_DIRECTORY,
            null,
            List.of(OPENAI_IMAGE_HOST),
            true,
            true,
            null,
            0,
            DEFAULT_FETCH_TIMEOUT,
            S3Config.DEFAULTS);

    public ImageConfig {
        Objects.requireNonNull(store, "store");
        Objects.requireNonNull(directory, "directory");
        fetchHosts = fetchHosts.stream()
                .map(h -> h.strip().toLowerCase(Locale.ROOT))
                .filter(h -> !h.isEmpty())
                .toList();
        if (publicBaseUrl != null
                && (!publicBaseUrl.isAbsolute()
                        || !("http".equals(publicBaseUrl.getScheme()) || "https".equals(publicBaseUrl.getScheme())))) {
            throw new IllegalArgumentException("images.public-base-url must be an absolute http(s) URL");
        }
        if (retention != null && (retention.isNegative() || retention.isZero())) {
            throw new IllegalArgumentException("images.retention must be positive");
        }
        if (maxSize < 0) {
            throw new IllegalArgumentException("images.max-size must not be negative");
        }
        Objects.requireNonNull(fetchTimeout, "fetchTimeout");
        if (fetchTimeout.isNegative() || fetchTimeout.isZero()) {
            throw new IllegalArgumentException("images.fetch-timeout must be positive");
        }
        Objects.requireNonNull(s3, "s3");
    }

    /** Whether images are stored. */
    public boolean enabled() {
        return store != Store.NONE;
    }

    public ImageConfig withStore(Store store) {
        return new ImageConfig(
                store,
                directory,
                publicBaseUrl,
                fetchHosts,
                storeB64,
                privateImages,
                retention,
                maxSize,
                fetchTimeout,
                s3);
    }

    public ImageConfig withDirectory(Path directory) {
        return new ImageConfig(
                store,
                directory,
                publicBaseUrl,
                fetchHosts,
                storeB64,
                privateImages,
                retention,
                maxSize,
                fetchTimeout,
                s3);
    }

    public ImageConfig withPublicBaseUrl(URI publicBaseUrl) {
        return new ImageConfig(
                store,
                directory,
                publicBaseUrl,
                fetchHosts,
                storeB64,
                privateImages,
                retention,
                maxSize,
                fetchTimeout,
                s3);
    }

    public ImageConfig withFetchHosts(List<String> fetchHosts) {
        return new ImageConfig(
                store,
                directory,
                publicBaseUrl,
                fetchHosts,
                storeB64,
                privateImages,
                retention,
                maxSize,
                fetchTimeout,
                s3);
    }

    public ImageConfig withStoreB64(boolean storeB64) {
        return new ImageConfig(
                store,
                directory,
                publicBaseUrl,
                fetchHosts,
                storeB64,
                privateImages,
                retention,
                maxSize,
                fetchTimeout,
                s3);
    }

    public ImageConfig withPrivateImages(boolean privateImages) {
        return new ImageConfig(
                store,
                directory,
                publicBaseUrl,
                fetchHosts,
                storeB64,
                privateImages,
                retention,
                maxSize,
                fetchTimeout,
                s3);
    }

    public ImageConfig withRetention(Duration retention) {
        return new ImageConfig(
                store,
                directory,
                publicBaseUrl,
                fetchHosts,
                storeB64,
                privateImages,
                retention,
                maxSize,
                fetchTimeout,
                s3);
    }

    public ImageConfig withMaxSize(long maxSize) {
        return new ImageConfig(
                store,
                directory,
                publicBaseUrl,
                fetchHosts,
                storeB64,
                privateImages,
                retention,
                maxSize,
                fetchTimeout,
                s3);
    }

    public ImageConfig withFetchTimeout(Duration fetchTimeout) {
        return new ImageConfig(
                store,
                directory,
                publicBaseUrl,
                fetchHosts,
                storeB64,
                privateImages,
                retention,
                maxSize,
                fetchTimeout,
                s3);
    }

    public ImageConfig withS3(S3Config s3) {
        return new ImageConfig(
                store,
                directory,
                publicBaseUrl,
                fetchHosts,
                storeB64,
                privateImages,
                retention,
                maxSize,
                fetchTimeout,
                s3);
    }
}
