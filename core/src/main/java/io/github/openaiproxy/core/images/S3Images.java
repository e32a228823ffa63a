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
}
