package io.github.openaiproxy.core.images;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Supplier;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;

/**
 * The {@link ImageStore} in an S3 bucket (AWS S3, MinIO, Cloudflare R2 and other S3-compatible services), through
 * the AWS SDK for Java v2 and the JDK's {@code HttpURLConnection}. One object per image, keyed
 * {@code <prefix><id>}, its metadata on the object: {@code Content-Type}, and the user metadata {@code sha256},
 * {@code owner} (URL-encoded: S3 metadata is ASCII) and {@code created}. Instances on one bucket share the images.
 *
 * <p>An image is first spooled to a temporary file while it is counted, digested and cut at the cap, then
 * uploaded in one {@code PutObject} with its length and metadata: S3 never sees a half-written object, and the heap
 * never holds the image. {@code If-None-Match: *} refuses an id already stored. Reads are streamed ranged
 * {@code GetObject}s. With a presign duration, {@link #directLink} gives presigned {@code GetObject} URLs.
 *
 * <p>Expired images are deleted by listing the prefix: an object last modified well before the cut-off is
 * deleted at once; one near it is deleted when its {@code created} metadata says so.
 *
 * <p>Only {@code images.store=s3} loads this class; the SDK is an optional dependency of core.
 */
public final class S3ImageStore implements ImageStore, AutoCloseable {
    private static final String SHA256 = "sha256";
    private static final String OWNER = "owner";
    private static final String CREATED = "created";
    /** How far an object's Last-Modified may trail its creation time (a slow upload, clock skew). */
    private static final Duration MODIFIED_SLACK = Duration.ofMinutes(15);

    private final S3Client s3;
    private final S3Presigner presigner;
    private final String bucket;
    private final String prefix;
    private final Duration presign;
    private final Clock clock;

    private S3ImageStore(
            S3Client s3, S3Presigner presigner, String bucket, String prefix, Duration presign, Clock clock) {
        this.s3 = s3;
        this.presigner = presigner;
        this.bucket = bucket;
        this.prefix = prefix;
        this.presign = presign;
        this.clock = clock;
    }

    /** A store as {@code config} says, credentials from the SDK's default chain; {@link #close()} releases it. */
    public static S3ImageStore create(S3Config config) {
        return create(config, DefaultCredentialsProvider.builder().build(), Clock.systemUTC());
    }

    /** A store as {@code config} says with these credentials and a clock for creation times. */
    public static S3ImageStore create(S3Config config, AwsCredentialsProvider credentials, Clock clock) {
        Objects.requireNonNull(config, "config");
        if (config.bucket() == null) {
            throw new IllegalArgumentException("images.store=s3 needs images.s3.bucket");
        }
        Objects.requireNonNull(credentials, "credentials");
        S3ClientBuilder client = S3Client.builder()
                .httpClientBuilder(UrlConnectionHttpClient.builder())
                .credentialsProvider(credentials)
                .forcePathStyle(config.pathStyle())
                // The proxy digests every image itself; S3-compatible services differ in the newer checksums.
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED);
        S3Presigner.Builder presigner = S3Presigner.builder()
                .credentialsProvider(credentials)
                .serviceConfiguration(S3Configuration.builder()
                        .pathStyleAccessEnabled(config.pathStyle())
                        .build());
        Region region = region(config);
        if (region != null) {
            client.region(region);
            presigner.region(region);
        }
        if (config.endpoint() != null) {
            client.endpointOverride(config.endpoint());
            presigner.endpointOverride(config.endpoint());
        }
        return new S3ImageStore(
                client.build(),
                config.presign() != null ? presigner.build() : null,
                config.bucket(),
                config.prefix(),
                config.presign(),
                Objects.requireNonNull(clock, "clock"));
    }

    /** The configured region; {@code us-east-1} for another service's endpoint; else the SDK's own chain. */
    private static Region region(S3Config config) {
        if (config.region() != null) {
            return Region.of(config.region());
        }
        return config.endpoint() != null ? Region.US_EAST_1 : null;
    }

    private String key(String id) {
        return prefix + id;
    }

    @Override
    public StoredImage put(String id, String contentType, String owner, InputStream bytes, long maxSize) {
        ImageIds.check(id);
        Intake.checkContentType(contentType);
        Intake in = new Intake(bytes, maxSize);
        Path spool = null;
        try {
            spool = Files.createTempFile("openai-proxy-image-", ".part");
            try {
                Files.copy(in, spool, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException e) {
                if (in.tooLarge()) {
                    throw new ImageTooLargeException(maxSize);
                }
                throw e;
            }
            StoredImage image = new StoredImage(id, contentType, in.count(), in.sha256(), owner, clock.instant());
            Map<String, String> metadata = new HashMap<>();
            metadata.put(SHA256, image.sha256());
            metadata.put(CREATED, image.createdAt().toString());
            if (owner != null) {
                metadata.put(OWNER, URLEncoder.encode(owner, StandardCharsets.UTF_8));
            }
            try {
                upload(id, contentType, image.size(), metadata, spool, true);
            } catch (S3Exception e) {
                if (e.statusCode() == 412 || e.statusCode() == 409) {
                    throw new IllegalArgumentException("image id already stored");
                }
                if (e.statusCode() != 501) {
                    throw e;
                }
                // A service without conditional writes: ask first (ids are random, a clash is only a bug's).
                if (head(id).isPresent()) {
                    throw new IllegalArgumentException("image id already stored");
                }
                upload(id, contentType, image.size(), metadata, spool, false);
            }
            return image;
        } catch (IOException | SdkException e) {
            throw new ImageStoreException("could not store an image in bucket " + bucket, e);
        } finally {
            if (spool != null) {
                try {
                    Files.deleteIfExists(spool);
                } catch (IOException e) {
                    // the temporary directory's own cleaning removes it
                }
            }
        }
    }

    /** One {@code PutObject} of the spooled image; {@code If-None-Match: *} when {@code onlyNew}. */
    private void upload(
            String id, String contentType, long size, Map<String, String> metadata, Path spool, boolean onlyNew) {
        s3.putObject(
                r -> r.bucket(bucket)
                        .key(key(id))
                        .contentType(contentType)
                        .contentLength(size)
                        .metadata(metadata)
                        .ifNoneMatch(onlyNew ? "*" : null),
                RequestBody.fromFile(spool));
    }

    @Override
    public Optional<StoredImage> find(String id) {
        if (!ImageIds.isValid(id)) {
            return Optional.empty();
        }
        return head(id).map(h -> image(id, h));
    }

    private Optional<HeadObjectResponse> head(String id) {
        return unlessMissing(
                () -> s3.headObject(r -> r.bucket(bucket).key(key(id))), "could not read an image's metadata");
    }

    /** What {@code call} answers, or empty when S3 answers 404; any other failure is {@code failure}. */
    private static <T> Optional<T> unlessMissing(Supplier<T> call, String failure) {
        try {
            return Optional.of(call.get());
        } catch (S3Exception e) {
            if (e.statusCode() == 404) {
                return Optional.empty();
            }
            throw new ImageStoreException(failure, e);
        } catch (SdkException e) {
            throw new ImageStoreException(failure, e);
        }
    }

    private static StoredImage image(String id, HeadObjectResponse h) {
        Map<String, String> m = h.metadata();
        String owner = m.get(OWNER);
        return new StoredImage(
                id,
                h.contentType(),
                h.contentLength(),
                m.getOrDefault(SHA256, ""),
                owner == null ? null : URLDecoder.decode(owner, StandardCharsets.UTF_8),
                created(m.get(CREATED), h.lastModified()));
    }

    private static Instant created(String value, Instant fallback) {
        try {
            return value == null ? fallback : Instant.parse(value);
        } catch (DateTimeParseException e) {
            return fallback;
        }
    }

    @Override
    public Optional<InputStream> open(String id, long offset, long length) {
        if (!ImageIds.isValid(id)) {
            return Optional.empty();
        }
        if (length <= 0) {
            // S3 has no empty range: answer from the metadata.
            return find(id).map(i -> InputStream.nullInputStream());
        }
        return unlessMissing(
                () -> s3.getObject(
                        r -> r.bucket(bucket).key(key(id)).range("bytes=" + offset + "-" + (offset + length - 1))),
                "could not read an image");
    }

    @Override
    public boolean delete(String id) {
        if (!ImageIds.isValid(id)) {
            return false;
        }
        try {
            // S3 deletes silently whether or not the object was there: ask first.
            if (head(id).isEmpty()) {
                return false;
            }
            s3.deleteObject(r -> r.bucket(bucket).key(key(id)));
            return true;
        } catch (SdkException e) {
            throw new ImageStoreException("could not delete an image", e);
        }
    }

    @Override
    public int deleteExpired(Instant before) {
        int deleted = 0;
        try {
            for (S3Object o : s3.listObjectsV2Paginator(r -> r.bucket(bucket).prefix(prefix))
                    .contents()) {
                String id = o.key().substring(prefix.length());
                if (!ImageIds.isValid(id) || !o.lastModified().isBefore(before.plus(MODIFIED_SLACK))) {
                    continue;
                }
                boolean expired = o.lastModified().isBefore(before.minus(MODIFIED_SLACK))
                        || head(id).map(h -> image(id, h).createdAt().isBefore(before))
                                .orElse(false);
                if (expired) {
                    s3.deleteObject(r -> r.bucket(bucket).key(o.key()));
                    deleted++;
                }
            }
        } catch (SdkException e) {
            throw new ImageStoreException("could not delete expired images", e);
        }
        return deleted;
    }

    @Override
    public Optional<URI> directLink(StoredImage image) {
        if (presigner == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(presigner
                    .presignGetObject(p -> p.signatureDuration(presign)
                            .getObjectRequest(r -> r.bucket(bucket).key(key(image.id()))))
                    .url()
                    .toURI());
        } catch (URISyntaxException | SdkException e) {
            throw new ImageStoreException("could not presign an image link", e);
        }
    }

    /**
     * Whether the bucket answers now: a {@code HEAD} of it with the store's client and credentials (blocking, within
     * the client's own timeouts).
     *
     * @throws ImageStoreException when it does not, its message safe to show (the service's status, such as 403 for
     *     credentials the bucket refuses or 404 for no such bucket; or that it cannot be reached), never the SDK's
     *     text; the SDK's exception is its cause
     */
    public void check() {
        try {
            s3.headBucket(b -> b.bucket(bucket));
        } catch (S3Exception e) {
            throw new ImageStoreException("the bucket answered " + e.statusCode(), e);
        } catch (SdkException e) {
            throw new ImageStoreException(
                    "S3 cannot be reached (" + e.getClass().getSimpleName() + ")", e);
        }
    }

    /** Releases the S3 client and presigner. */
    @Override
    public void close() {
        s3.close();
        if (presigner != null) {
            presigner.close();
        }
    }
}
