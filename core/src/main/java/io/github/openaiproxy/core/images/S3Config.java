package io.github.openaiproxy.core.images;

import java.net.URI;
import java.time.Duration;
import java.util.regex.Pattern;

/**
 * Where the S3 image store keeps images (settings {@code images.s3.*}); used when {@code images.store=s3}.
 * Credentials come from the AWS SDK's default chain (environment {@code AWS_ACCESS_KEY_ID} and
 * {@code AWS_SECRET_ACCESS_KEY}, system properties, profile files, container and instance roles), never from
 * the proxy's settings.
 *
 * @param bucket the bucket; required when the store is {@code s3}
 * @param region the region, such as {@code eu-west-1}; {@code null}, the default: the SDK's region chain
 *     ({@code AWS_REGION}, profile), or {@code us-east-1} when {@link #endpoint} is set
 * @param endpoint another S3-compatible service's endpoint (MinIO, Cloudflare R2, ...); {@code null}, the
 *     default: AWS S3
 * @param pathStyle whether to address the bucket in the path ({@code http://host/bucket/key}) rather than the
 *     host name; most self-hosted services need it; default {@code false}
 * @param prefix the start of every object key, such as {@code images/}; default empty
 * @param presign how long a presigned link is valid; when set, {@code GET /images/files/...} answers 302 to
 *     one instead of serving the bytes; {@code null}, the default: the proxy serves the bytes
 */
public record S3Config(String bucket, String region, URI endpoint, boolean pathStyle, String prefix, Duration presign) {
    /** What an object key prefix may hold: S3's safe characters, no {@code ..}. */
    private static final Pattern PREFIX = Pattern.compile("[A-Za-z0-9!_.*'()/-]{0,200}");
    /** S3's bucket names (and the older, looser ones some services accept). */
    private static final Pattern BUCKET = Pattern.compile("[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]");
    /** Presigned links of SigV4 last at most a week. */
    static final Duration MAX_PRESIGN = Duration.ofDays(7);

    /** No bucket, AWS's endpoint, host-style, no prefix, bytes served by the proxy. */
    public static final S3Config DEFAULTS = new S3Config(null, null, null, false, "", null);

    public S3Config {
        if (bucket != null && bucket.isBlank()) {
            bucket = null;
        }
        if (bucket != null && !BUCKET.matcher(bucket).matches()) {
            throw new IllegalArgumentException("images.s3.bucket is not a bucket name: " + bucket);
        }
        if (region != null && region.isBlank()) {
            region = null;
        }
        if (endpoint != null
                && (!endpoint.isAbsolute()
                        || !("http".equals(endpoint.getScheme()) || "https".equals(endpoint.getScheme())))) {
            throw new IllegalArgumentException("images.s3.endpoint must be an absolute http(s) URL");
        }
        prefix = prefix == null ? "" : prefix.strip();
        if (!PREFIX.matcher(prefix).matches() || prefix.contains("..") || prefix.startsWith("/")) {
            throw new IllegalArgumentException(
                    "images.s3.prefix may hold letters, digits and ! _ . * ' ( ) / - (no '..', no leading '/')");
        }
        if (presign != null && (presign.isNegative() || presign.isZero() || presign.compareTo(MAX_PRESIGN) > 0)) {
            throw new IllegalArgumentException("images.s3.presign must be positive and at most 7d");
        }
    }

    public S3Config withBucket(String bucket) {
        return new S3Config(bucket, region, endpoint, pathStyle, prefix, presign);
    }

    public S3Config withRegion(String region) {
        return new S3Config(bucket, region, endpoint, pathStyle, prefix, presign);
    }

    public S3Config withEndpoint(URI endpoint) {
        return new S3Config(bucket, region, endpoint, pathStyle, prefix, presign);
    }

    public S3Config withPathStyle(boolean pathStyle) {
        return new S3Config(bucket, region, endpoint, pathStyle, prefix, presign);
    }

    public S3Config withPrefix(String prefix) {
        return new S3Config(bucket, region, endpoint, pathStyle, prefix, presign);
    }

    public S3Config withPresign(Duration presign) {
        return new S3Config(bucket, region, endpoint, pathStyle, prefix, presign);
    }
}
