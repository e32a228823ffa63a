package io.github.openaiproxy.core.images;

import io.github.openaiproxy.core.internal.ClassPath;
import io.github.openaiproxy.core.internal.Internal;

/**
 * Makes the S3 image store for {@code images.store=s3} without linking the AWS SDK before it is known to be on the
 * class path (it is an optional dependency of core): a missing SDK is a start-up error that names the setting and
 * the artifacts to add, not a {@code NoClassDefFoundError} later.
 */
@Internal
public final class S3Images {
    private static final String[] NEEDED = {
        "software.amazon.awssdk.services.s3.S3Client",
        "software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient"
    };

    private S3Images() {}

    /**
     * The S3 store {@code config} describes, credentials from the SDK's default chain.
     *
     * @throws IllegalStateException if the AWS SDK is not on the class path, or no bucket is set
     */
    public static ImageStore create(S3Config config) {
        if (config.bucket() == null) {
            throw new IllegalStateException("images.store=s3 needs images.s3.bucket");
        }
        for (String name : NEEDED) {
            if (!ClassPath.has(name)) {
                throw new IllegalStateException("images.store=s3 needs the AWS SDK for Java v2 on the class path:"
                        + " add software.amazon.awssdk:s3 and software.amazon.awssdk:url-connection-client"
                        + " (missing " + name + ")");
            }
        }
        return S3ImageStore.create(config);
    }

    /**
     * A check of {@code store} ({@link S3ImageStore#check()}, run on {@code executor}) when it is the S3 store;
     * empty otherwise. Compared by name, so that no SDK class is loaded for another store.
     */
    public static java.util.Optional<java.util.concurrent.CompletableFuture<Void>> probe(
            ImageStore store, java.util.concurrent.Executor executor) {
        if (store == null || !store.getClass().getName().equals(S3_STORE)) {
            return java.util.Optional.empty();
        }
        S3ImageStore s3 = (S3ImageStore) store;
        try {
            return java.util.Optional.of(java.util.concurrent.CompletableFuture.runAsync(s3::check, executor));
        } catch (RuntimeException busy) { // the executor's queue is full
            return java.util.Optional.of(java.util.concurrent.CompletableFuture.failedFuture(busy));
        }
    }

    private static final String S3_STORE = "io.github.openaiproxy.core.images.S3ImageStore";
}
