package io.github.openaiproxy.core.images;

import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.Internal;
import io.github.openaiproxy.core.internal.StorableText;
import io.github.openaiproxy.core.observe.ProxyObserver;
import io.github.openaiproxy.core.route.CustomRoute;
import java.net.URI;
import java.time.Clock;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The engine's image storage: the store, its settings, the threads its blocking calls run on, and who may see an
 * image. An image is visible to a caller when it has not outlived {@code images.retention} and it has no owner
 * or the caller is its owner; to anyone else it is as unknown as an id that never existed.
 */
@Internal
public final class Images {
    /** The header ({@code false}) on an answer whose generated images could not be stored: the upstream's URLs. */
    public static final String STORED_HEADER = "x-openai-proxy-image-stored";

    private final ImageStore store;
    private final ImageConfig config;
    private final long maxSize;
    private final Executor executor;
    private final Clock clock;
    private final ImageSaver saver;
    /** When expired images were last deleted, as the clock's epoch millis. */
    private final AtomicLong lastPurge = new AtomicLong(Long.MIN_VALUE);

    private static final long PURGE_INTERVAL_MILLIS = 60_000;
    private static final System.Logger LOG = System.getLogger(Images.class.getName());

    /**
     * @param store the store
     * @param config the settings
     * @param maxBodySize the proxy's {@code max-body-size}: the size cap when {@code images.max-size} is 0
     * @param upstream the upstream's base URL (its host and port may be fetched from)
     * @param mountPath where the proxy is mounted, the start of its image links without a public base URL
     * @param executor the threads store calls and image bodies run on
     * @param clock the clock retention is measured by
     */
    public Images(
            ImageStore store,
            ImageConfig config,
            long maxBodySize,
            URI upstream,
            String mountPath,
            Executor executor,
            Clock clock) {
        this.store = Objects.requireNonNull(store, "store");
        this.config = Objects.requireNonNull(config, "config");
        this.maxSize = config.maxSize() > 0 ? config.maxSize() : maxBodySize;
        this.executor = Objects.requireNonNull(executor, "executor");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.saver = new ImageSaver(
                this,
                new SafeFetcher(config.fetchHosts(), upstream, config.fetchTimeout()),
                config.publicBaseUrl() != null
                        ? withoutTrailingSlash(config.publicBaseUrl().toString())
                        : null,
                withoutTrailingSlash(mountPath),
                config.fetchTimeout());
    }

    private static String withoutTrailingSlash(String s) {
        String t = s;
        while (t.endsWith("/")) {
            t = t.substring(0, t.length() - 1);
        }
        return t;
    }

    /**
     * The answer to send for an upstream image generation's {@code answer}: its images stored and its links the
     * proxy's, or the upstream's answer unchanged with {@code x-openai-proxy-image-stored: false} (told to
     * {@code observation}, with the reason). Without {@code images.public-base-url} the links are paths that start
     * with {@code basePath} ({@link io.github.openaiproxy.core.http.ProxyRequest#basePath()}), or the configured
     * mount path when it is empty. {@code b64_json} images are stored only {@code forSession}, a generation a
     * session records (it records their links: the answer keeps its base64 and names none, so without a session
     * nobody could fetch them).
     */
    public CompletableFuture<Saved> save(
            ProxyResponse answer,
            Identity identity,
            Optional<String> basePath,
            boolean forSession,
            ProxyObserver.Observation observation) {
        purgeExpired();
        return saver.save(answer, ownerFor(identity), basePath, forSession && config.storeB64(), observation);
    }

    /**
     * What {@link #save} did.
     *
     * @param response the answer to send
     * @param links the proxy's links of every image it stored, in the answer's order ({@code b64_json} images'
     *     too, whose answer keeps its {@code b64_json}); empty when none was stored
     */
    public record Saved(ProxyResponse response, List<String> links) {
        public Saved {
            java.util.Objects.requireNonNull(response, "response");
            links = List.copyOf(links);
        }
    }

    /**
     * The image ids of a session's image reply: its content is the proxy's links, one a line (as a session records
     * an image generation). Any other text, such as a chat reply that quotes a link, has none: deleting a session
     * deletes the images it generated, not every image its text mentions.
     */
    public static List<String> idsInImageReply(String content) {
        List<String> ids = new java.util.ArrayList<>();
        for (String line : content.split("\n", -1)) {
            java.util.regex.Matcher m = LINK.matcher(line);
            if (!m.matches() || !ImageIds.isValid(m.group(1))) {
                return List.of();
            }
            ids.add(m.group(1));
        }
        return List.copyOf(ids);
    }

    /** A link of the proxy: relative ({@code /images/files/...}) or absolute ({@code images.public-base-url}). */
    private static final java.util.regex.Pattern LINK = java.util.regex.Pattern.compile(
            "(?:https?://[^\\s/]+)?[^\\s]*/images/files/(img_[A-Za-z0-9_-]{1,64})\\.(?:png|jpg|jpeg|webp|gif)");

    /**
     * Deletes, on the image threads, the images of {@code ids} that {@code identity} may see (its own, and unowned
     * ones): the images of a deleted session. One that cannot be deleted is logged and skipped (retention or an
     * admin deletes it later).
     *
     * @return how many were deleted
     */
    public CompletableFuture<Integer> deleteVisible(List<String> ids, Identity identity) {
        String reader = reader(identity);
        return call(() -> {
            int deleted = 0;
            for (String id : ids) {
                try {
                    if (store.find(id).filter(i -> visible(i, reader)).isPresent() && store.delete(id)) {
                        deleted++;
                    }
                } catch (RuntimeException e) {
                    LOG.log(
                            System.Logger.Level.WARNING,
                            "an image of a deleted session was not deleted: " + e.getMessage());
                }
            }
            return deleted;
        });
    }

    /**
     * Deletes the images older than {@code images.retention} from the store, at most once a minute, on the image
     * threads (they are 404 from the moment they expire: this only frees their space).
     */
    void purgeExpired() {
        if (config.retention() == null) {
            return;
        }
        long now = clock.millis();
        long last = lastPurge.get();
        if ((last != Long.MIN_VALUE && now - last < PURGE_INTERVAL_MILLIS) || !lastPurge.compareAndSet(last, now)) {
            return;
        }
        try {
            executor.execute(() -> {
                try {
                    int n = store.deleteExpired(clock.instant().minus(config.retention()));
                    LOG.log(System.Logger.Level.DEBUG, "{0} expired images deleted", n);
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "expired images not deleted: " + e.getMessage());
                }
            });
        } catch (RejectedExecutionException e) {
            lastPurge.set(last); // busy: the next generation tries again
        }
    }

    /** The routes that serve and delete stored images. */
    public List<CustomRoute> routes() {
        return ImageRoutes.all(this);
    }

    /** The owner of what {@code identity} creates: none for anonymous callers, or when images are not private. */
    public String ownerFor(Identity identity) {
        if (!config.privateImages() || identity == null) {
            return null;
        }
        return identity.ownerId().map(Images::ownerKey).orElse(null);
    }

    /** What {@code identity} is when it reads: its owner id whatever {@code images.private} says. */
    static String reader(Identity identity) {
        return identity == null
                ? null
                : identity.ownerId().map(Images::ownerKey).orElse(null);
    }

    /** The most UTF-8 bytes of an owner id the stores keep as it is (the JDBC store's column, S3's metadata). */
    static final int MAX_OWNER = 200;

    /**
     * An owner id as the stores keep it: itself, or its SHA-256 when it is over {@link #MAX_OWNER} UTF-8 bytes (a
     * JWT's {@code iss#sub}, a host user's X.509 name) or holds what a store cannot keep (a lone surrogate, which
     * UTF-8 writes as {@code ?}, so that "a" then U+D800 would own the images of "a?"; a control character, NUL
     * refused by PostgreSQL). The hash is of the id's UTF-16 code units, so two ids never share one; owner ids
     * start with their identity's kind, never {@code sha256:}.
     */
    static String ownerKey(String ownerId) {
        return StorableText.isExact(ownerId) && utf8Length(ownerId) <= MAX_OWNER
                ? ownerId
                : StorableText.sha256(ownerId);
    }

    /** {@code s}'s length in UTF-8 (no lone surrogate in it). */
    private static long utf8Length(String s) {
        long bytes = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : Character.isSurrogate(c) ? 2 : 3; // a pair is 4
        }
        return bytes;
    }

    /** Whether {@code reader} may see {@code image} now. */
    boolean visible(StoredImage image, String reader) {
        if (config.retention() != null
                && !image.createdAt().plus(config.retention()).isAfter(clock.instant())) {
            return false;
        }
        return image.owner() == null || image.owner().equals(reader);
    }

    /** Runs a store call on the image threads. */
    <T> CompletableFuture<T> call(Supplier<T> operation) {
        try {
            return CompletableFuture.supplyAsync(operation, executor);
        } catch (RejectedExecutionException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    public ImageStore store() {
        return store;
    }

    public ImageConfig config() {
        return config;
    }

    /** The size cap of one image. */
    public long maxSize() {
        return maxSize;
    }

    Executor executor() {
        return executor;
    }
}
