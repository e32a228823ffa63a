package io.github.openaiproxy.core.images;

import io.github.openaiproxy.core.error.ErrorStyle;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Failures;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.internal.Occasional;
import io.github.openaiproxy.core.route.CustomRoute;
import io.github.openaiproxy.core.route.RouteCall;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * {@code GET|HEAD /images/files/{id}.{ext}} serves a stored image (one range at most), {@code DELETE
 * /images/files/{id}[.{ext}]} deletes it. An image that is unknown, expired, of another owner, or asked for with
 * another extension than its type's is 404, byte for byte the same answer; a malformed name is 400, decided
 * without asking the store. A store with {@linkplain ImageStore#directLink direct links} (S3 with
 * {@code images.s3.presign}) gets a 302 to one instead of the bytes, after the same checks (and so does
 * {@code HEAD}, which answers as {@code GET}).
 */
final class ImageRoutes {
    static final String PREFIX = "/images/files/";
    private static final String IMMUTABLE = "max-age=31536000, immutable";
    private static final System.Logger LOG = System.getLogger(ImageRoutes.class.getName());

    private ImageRoutes() {}

    static List<CustomRoute> all(Images images) {
        return List.of(new CustomRoute() {
            @Override
            public String path() {
                return PREFIX + "{file}";
            }

            @Override
            public Set<String> methods() {
                return Set.of("GET", "DELETE");
            }

            @Override
            public CompletableFuture<ProxyResponse> handle(RouteCall call) {
                String file = call.request().path().substring(PREFIX.length());
                return call.request().method().equals("DELETE") ? delete(images, call, file) : get(images, call, file);
            }
        });
    }

    /** A requested file name: a valid id and, for reading, a known extension. */
    private record FileName(String id, String contentType) {}

    private static Optional<FileName> parse(String file, boolean extensionRequired) {
        int dot = file.lastIndexOf('.');
        String id = dot < 0 ? file : file.substring(0, dot);
        if (!ImageIds.isValid(id)) {
            return Optional.empty();
        }
        if (dot < 0) {
            return extensionRequired ? Optional.empty() : Optional.of(new FileName(id, null));
        }
        return ImageIds.contentTypeOf(file.substring(dot + 1)).map(type -> new FileName(id, type));
    }

    private static CompletableFuture<ProxyResponse> get(Images images, RouteCall call, String file) {
        Optional<FileName> name = parse(file, true);
        if (name.isEmpty()) {
            return done(error(badName()));
        }
        String id = name.get().id();
        String reader = Images.reader(call.identity());
        Optional<String> range = call.request().header("Range");
        Optional<String> ifNoneMatch = call.request().header("If-None-Match");
        Optional<String> ifRange = call.request().header("If-Range");
        return images.call(() -> {
                    Optional<StoredImage> found = find(images, name.get(), reader);
                    if (found.isEmpty()) {
                        return error(notFound());
                    }
                    StoredImage image = found.get();
                    String cache = (image.owner() == null ? "public, " : "private, ") + IMMUTABLE;
                    if (ifNoneMatch.isPresent() && matches(ifNoneMatch.get(), image.etag())) {
                        return response(304, image, cache, -1, null, null);
                    }
                    Optional<URI> direct = images.store().directLink(image);
                    if (direct.isPresent()) {
                        // The presigned link expires: the redirect is not to be cached (a Range is re-sent).
                        return ProxyResponse.builder(302)
                                .header("Location", direct.get().toString())
                                .header("Cache-Control", "private, no-store")
                                .build();
                    }
                    ByteRange r = ByteRange.NONE;
                    if (range.isPresent()
                            && (ifRange.isEmpty() || ifRange.get().strip().equals(image.etag()))) {
                        r = ByteRange.parse(range.get(), image.size());
                    }
                    if (r == ByteRange.UNSATISFIABLE) {
                        return ProxyResponse.builder(416)
                                .header("Content-Range", "bytes */" + image.size())
                                .header("Cache-Control", "no-store")
                                .build();
                    }
                    long offset = r == ByteRange.NONE ? 0 : r.first();
                    long length = r == ByteRange.NONE ? image.size() : r.length();
                    Optional<InputStream> in = images.store().open(id, offset, length);
                    if (in.isEmpty()) {
                        return error(notFound()); // deleted just now
                    }
                    Flow.Publisher<List<ByteBuffer>> body = new StreamBody(in.get(), length, images.executor());
                    if (r == ByteRange.NONE) {
                        return response(200, image, cache, length, null, body);
                    }
                    String contentRange = "bytes " + r.first() + "-" + r.last() + "/" + image.size();
                    return response(206, image, cache, length, contentRange, body);
                })
                .exceptionally(ImageRoutes::failure);
    }

    /**
     * The image {@code name} stands for, when {@code reader} may see it and, for a name with an extension, it is of
     * that type. Blocking: on the images' executor.
     */
    private static Optional<StoredImage> find(Images images, FileName name, String reader) {
        return images.store()
                .find(name.id())
                .filter(i -> images.visible(i, reader))
                .filter(i -> name.contentType() == null || i.contentType().equalsIgnoreCase(name.contentType()));
    }

    private static CompletableFuture<ProxyResponse> delete(Images images, RouteCall call, String file) {
        Optional<FileName> name = parse(file, false);
        if (name.isEmpty()) {
            return done(error(badName()));
        }
        String id = name.get().id();
        String reader = Images.reader(call.identity());
        return images.call(() -> {
                    // The owner never changes: an image this caller may see now is one it may delete.
                    boolean deleted = find(images, name.get(), reader).isPresent()
                            && images.store().delete(id);
                    if (!deleted) {
                        return error(notFound());
                    }
                    var n = Json.object();
                    n.put("id", id);
                    n.put("object", "image");
                    n.put("deleted", true);
                    return ProxyResponse.builder(200).json(Json.bytes(n)).build();
                })
                .exceptionally(ImageRoutes::failure);
    }

    private static boolean matches(String ifNoneMatch, String etag) {
        for (String tag : ifNoneMatch.split(",")) {
            String t = tag.strip();
            if (t.equals("*") || t.equals(etag) || t.equals("W/" + etag)) {
                return true;
            }
        }
        return false;
    }

    private static ProxyResponse response(
            int status,
            StoredImage image,
            String cache,
            long length,
            String contentRange,
            Flow.Publisher<List<ByteBuffer>> body) {
        Map<String, List<String>> h = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        h.put("Content-Type", List.of(image.contentType()));
        h.put("Cache-Control", List.of(cache));
        h.put("ETag", List.of(image.etag()));
        h.put("Accept-Ranges", List.of("bytes"));
        // Served from the proxy's origin: never let a browser guess another type.
        h.put("X-Content-Type-Options", List.of("nosniff"));
        h.put("Content-Security-Policy", List.of("default-src 'none'; sandbox"));
        if (length >= 0) {
            h.put("Content-Length", List.of(Long.toString(length)));
        }
        if (contentRange != null) {
            h.put("Content-Range", List.of(contentRange));
        }
        ProxyResponse empty = ProxyResponse.builder(status).build();
        return new ProxyResponse(status, HttpHeaders.of(h, (n, v) -> true), body != null ? body : empty.body(), false);
    }

    /** Refused store calls are warned of once a minute at most: a flood of them must not flood the log. */
    private static final Occasional QUEUE_FULL = new Occasional(TimeUnit.MINUTES.toNanos(1));

    private static ProxyResponse failure(Throwable error) {
        Throwable cause = Failures.unwrap(error);
        if (cause instanceof RejectedExecutionException) {
            QUEUE_FULL.log(
                    LOG,
                    System.Logger.Level.WARNING,
                    "image store queue full (or one client''s share of it): call refused");
            return error(new ProxyError(
                    503,
                    "Service Unavailable",
                    "The image store is busy; retry shortly",
                    "server_error",
                    "image_store_busy",
                    null,
                    null,
                    Map.of("Retry-After", "1")));
        }
        LOG.log(System.Logger.Level.ERROR, "image store failed", error);
        return error(ProxyError.imageStoreUnavailable());
    }

    /** 404: no image this caller may see has this name. The id is not echoed. */
    static ProxyError notFound() {
        return new ProxyError(
                404,
                "Image Not Found",
                "No image with this name exists (it may have expired or been deleted)",
                "invalid_request_error",
                "image_not_found",
                null,
                null,
                Map.of());
    }

    /** 400: not the name of an image file ({@code img_...} and png, jpg, jpeg, webp or gif). */
    static ProxyError badName() {
        return ProxyError.badRequest(
                "Invalid Image Name",
                "An image file is named img_ and 32 URL-safe characters, then .png, .jpg, .jpeg, .webp or .gif",
                "file");
    }

    static ProxyResponse error(ProxyError e) {
        return ProxyResponse.builder(e.status())
                .headers(e.headers())
                .json(ErrorStyle.SIMPLE.render(e))
                .build();
    }

    private static CompletableFuture<ProxyResponse> done(ProxyResponse r) {
        return CompletableFuture.completedFuture(r);
    }
}
