package io.github.openaiproxy.core.images;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.JsonToken;
import io.github.openaiproxy.core.flow.Prefetch;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.observe.ProxyObserver;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Stores every image of a successful image generation before the answer goes out, and points its {@code url}s
 * at the proxy. The answer is otherwise the upstream's, byte for byte: only the {@code url} strings of
 * {@code data[i]} are replaced, in place. If any image cannot be stored, the client gets the upstream's answer
 * unchanged with {@value Images#STORED_HEADER}{@code : false} (and the images of that answer already stored are
 * deleted): an image the client paid for is never lost because storage failed.
 */
final class ImageSaver {

    /** The reason of a store that failed (its disk, its database). */
    static final String STORE_FAILED = "store_failed";
    /** The reason when no image thread was free. */
    static final String BUSY = "busy";
    /** The reason when the answer is content-encoded: the proxy cannot read its images. */
    static final String CONTENT_ENCODED = "content_encoded";
    /** The reason when the store did not answer in time (a database lock, a stalled disk). */
    static final String STORE_TIMEOUT = "store_timeout";

    private static final System.Logger LOG = System.getLogger(ImageSaver.class.getName());
    /**
     * The answer is held whole to be rewritten, up to this many times {@code images.max-size}: ten images (OpenAI's
     * largest {@code n}) in base64 (four bytes for three) and their JSON. A longer answer is relayed as it is, its
     * images not stored: an upstream's answer must not pin gigabytes of the heap.
     */
    static final int MAX_ANSWER_IMAGES = 14;

    private final Images images;
    private final SafeFetcher fetcher;
    /**
     * How long one image may take, fetch and write together (twice {@code images.fetch-timeout}): a store that does
     * not answer must not hold the answer the client paid for.
     */
    private final long imageNanos;
    /** The configured public base URL without a trailing slash; {@code null}: links are paths from the host. */
    private final String publicBase;
    /** The configured mount path without a trailing slash, for a request that does not say where it found the proxy. */
    private final String mountPath;

    ImageSaver(Images images, SafeFetcher fetcher, String publicBase, String mountPath, Duration fetchTimeout) {
        this.images = images;
        this.fetcher = fetcher;
        // At most ten thousand days: a longer setting must not overflow the deadline arithmetic.
        Duration most = Duration.ofDays(10_000);
        this.imageNanos = (fetchTimeout.compareTo(most) > 0 ? most : fetchTimeout).toNanos() * 2;
        this.publicBase = publicBase;
        this.mountPath = mountPath;
    }

    /**
     * The answer to send for {@code answer}, an upstream image generation's, made for {@code owner}; an answer
     * whose images are not stored is told to {@code observation}; {@code b64_json} images are stored only with
     * {@code storeB64}.
     */
    CompletableFuture<Images.Saved> save(
            ProxyResponse answer,
            String owner,
            Optional<String> basePath,
            boolean storeB64,
            ProxyObserver.Observation observation) {
        if (answer.status() < 200 || answer.status() >= 300 || answer.streaming()) {
            return CompletableFuture.completedFuture(new Images.Saved(answer, List.of()));
        }
        int most = (int) Math.min(Integer.MAX_VALUE - 16, MAX_ANSWER_IMAGES * images.maxSize());
        return Prefetch.read(answer.body(), most).thenCompose(read -> {
            if (read instanceof Prefetch.Outcome.Broken broken) {
                return CompletableFuture.failedFuture(broken.cause());
            }
            if (read instanceof Prefetch.Outcome.Longer longer) {
                LOG.log(
                        System.Logger.Level.WARNING,
                        "generated images not stored: the answer is longer than {0} bytes",
                        most);
                observation.imageNotStored(ImageFetchException.TOO_LARGE);
                return CompletableFuture.completedFuture(new Images.Saved(notStored(answer, longer.body()), List.of()));
            }
            byte[] bytes = ((Prefetch.Outcome.Whole) read).bytes();
            Attempt attempt = new Attempt(imageNanos);
            CompletableFuture<Images.Saved> result = new CompletableFuture<>();
            attempt.onTimeout(() -> {
                LOG.log(
                        System.Logger.Level.WARNING,
                        "generated images not stored: the image store did not answer in time");
                observation.imageNotStored(STORE_TIMEOUT);
                result.complete(new Images.Saved(withBody(answer, bytes, true), List.of()));
            });
            images.call(() -> rewrite(answer, bytes, owner, linkBase(basePath), storeB64, observation, attempt))
                    .whenComplete((saved, error) -> {
                        if (!attempt.finish()) {
                            return; // the answer went out unstored at the deadline
                        }
                        if (error == null) {
                            result.complete(saved);
                        } else {
                            LOG.log(System.Logger.Level.WARNING, "generated images not stored: " + error.getMessage());
                            observation.imageNotStored(reason(error));
                            result.complete(new Images.Saved(withBody(answer, bytes, true), List.of()));
                        }
                    });
            return result;
        });
    }

    /**
     * One answer's storing against its deadline: each image has {@code imageNanos} from its start (the first also
     * from the answer's arrival, a wait for an image thread included). Past it the answer goes out unstored, once:
     * either the deadline or the storing wins, and storing that loses deletes what it wrote.
     */
    static final class Attempt {
        private static final int RUNNING = 0;
        private static final int DONE = 1;
        private static final int TIMED_OUT = 2;

        /** Thrown on the image thread when the answer already went out unstored. */
        static final class Abandoned extends RuntimeException {
            private static final long serialVersionUID = 1L;

            Abandoned() {
                super("the image store did not answer in time", null, false, false);
            }
        }

        private final long imageNanos;
        private final AtomicInteger state = new AtomicInteger();
        private volatile long deadline;
        /** What the deadline does; dropped once the storing finished, with the answer it holds. */
        private volatile Runnable onTimeout;
        /**
         * The pending check of the deadline: {@code true} when its time came, completed {@code false} when the
         * storing finishes, which also takes its task off the JDK's delay queue (no thread of the proxy's own, that
         * would outlive an undeployed web application).
         */
        private volatile CompletableFuture<Boolean> pending;

        Attempt(long imageNanos) {
            this.imageNanos = imageNanos;
            this.deadline = System.nanoTime() + imageNanos;
        }

        void onTimeout(Runnable action) {
            this.onTimeout = action;
            check();
        }

        private void check() {
            long left = deadline - System.nanoTime();
            if (state.get() != RUNNING) {
                return;
            }
            if (left > 0) {
                // The check itself runs on the delay's own timer thread: no thread per answer that finished in time.
                CompletableFuture<Boolean> next = new CompletableFuture<>();
                next.thenAccept(due -> {
                    if (due) {
                        check();
                    }
                });
                next.completeOnTimeout(Boolean.TRUE, left, TimeUnit.NANOSECONDS);
                pending = next;
                if (state.get() != RUNNING) {
                    next.complete(Boolean.FALSE); // finished while this was scheduled
                }
            } else if (state.compareAndSet(RUNNING, TIMED_OUT)) {
                Runnable action = onTimeout;
                onTimeout = null;
                CompletableFuture.runAsync(action); // the answer goes on elsewhere: the image threads are stuck
            }
        }

        /** An image starts: it has its own time; throws when the answer already went out. */
        void nextImage() {
            if (state.get() != RUNNING) {
                throw new Abandoned();
            }
            deadline = System.nanoTime() + imageNanos;
        }

        /** Whether the storing finished in time (else its answer already went out unstored). */
        boolean finish() {
            if (state.compareAndSet(RUNNING, DONE)) {
                onTimeout = null;
                CompletableFuture<Boolean> p = pending;
                if (p != null) {
                    p.complete(Boolean.FALSE);
                }
                return true;
            }
            return state.get() == DONE;
        }
    }

    /** The answer relayed as the upstream sends it (its own length, if it gave one), saying its images are not stored. */
    private static ProxyResponse notStored(ProxyResponse answer, Flow.Publisher<List<ByteBuffer>> body) {
        Map<String, List<String>> h = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        h.putAll(answer.headers().map());
        h.put(Images.STORED_HEADER, List.of("false"));
        return new ProxyResponse(answer.status(), HttpHeaders.of(h, (n, v) -> true), body, false);
    }

    /** Why an image was not stored, from a small fixed set (a metric tag; see the observer's callback). */
    static String reason(Throwable error) {
        Throwable e = error;
        while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        if (e instanceof ImageFetchException f) {
            return f.reason();
        }
        if (e instanceof ImageTooLargeException) {
            return ImageFetchException.TOO_LARGE;
        }
        if (e instanceof RejectedExecutionException) {
            return BUSY;
        }
        return STORE_FAILED;
    }

    /** A {@code data[i]} entry's image as the answer holds it. */
    private record Entry(int index, String url, String b64, long urlStart, long urlEnd) {}

    /** What links start with: the public base URL when configured, else where the request found the proxy. */
    private String linkBase(Optional<String> basePath) {
        return publicBase != null ? publicBase : basePath.orElse(mountPath);
    }

    private Images.Saved rewrite(
            ProxyResponse answer,
            byte[] bytes,
            String owner,
            String linkBase,
            boolean storeB64,
            ProxyObserver.Observation observation,
            Attempt attempt) {
        attempt.nextImage(); // not begun when the answer already went out
        List<Entry> entries;
        try {
            entries = entries(bytes);
        } catch (IOException e) {
            // Not JSON: an encoded body cannot be read here (say so), anything else holds no images.
            if (!attempt.finish()) {
                throw new Attempt.Abandoned();
            }
            boolean encoded = HeaderMap.isCoded(HeaderMap.first(answer.headers(), "content-encoding"));
            if (encoded) {
                LOG.log(System.Logger.Level.WARNING, "generated images not stored: the answer is content-encoded");
                observation.imageNotStored(CONTENT_ENCODED);
            }
            return new Images.Saved(withBody(answer, bytes, encoded), List.of());
        }
        List<String> stored = new ArrayList<>();
        List<String> links = new ArrayList<>();
        List<String> allLinks = new ArrayList<>(); // b64_json images' too: a session records them
        try {
            for (Entry e : entries) {
                if (e.url() != null || (e.b64() != null && storeB64)) {
                    attempt.nextImage();
                }
                if (e.url() != null) {
                    StoredImage image = fromLink(e.url(), owner);
                    stored.add(image.id());
                    links.add(link(linkBase, image));
                    allLinks.add(link(linkBase, image));
                } else if (e.b64() != null && storeB64) {
                    StoredImage image = fromBase64(e.b64(), owner);
                    stored.add(image.id());
                    links.add(null);
                    allLinks.add(link(linkBase, image));
                } else {
                    links.add(null);
                }
            }
            if (!attempt.finish()) {
                throw new Attempt.Abandoned(); // too late: nobody is given these links
            }
        } catch (RuntimeException e) {
            for (String id : stored) {
                try {
                    images.store().delete(id);
                } catch (RuntimeException ignored) {
                    // retention removes it later
                }
            }
            throw e;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(bytes.length);
        int at = 0;
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            if (links.get(i) != null && e.url() != null) {
                out.write(bytes, at, (int) e.urlStart() - at);
                out.writeBytes(Json.bytes(Json.mapper().getNodeFactory().textNode(links.get(i))));
                at = (int) e.urlEnd();
            }
        }
        out.write(bytes, at, bytes.length - at);
        return new Images.Saved(withBody(answer, out.toByteArray(), false), List.copyOf(allLinks));
    }

    private static String link(String linkBase, StoredImage image) {
        return linkBase + ImageRoutes.PREFIX + image.id() + "."
                + ImageIds.extensionOf(image.contentType()).orElseThrow();
    }

    private StoredImage fromLink(String url, String owner) {
        SafeFetcher.Fetched fetched = fetcher.fetch(url);
        FetchedBody body = new FetchedBody(fetched.body());
        try (body) {
            if (fetched.declaredLength() > images.maxSize()) {
                throw new ImageFetchException(
                        ImageFetchException.TOO_LARGE, "image larger than " + images.maxSize() + " bytes");
            }
            byte[] head = body.readNBytes(ImageSignatures.LENGTH);
            String type = ImageSignatures.detect(head, head.length)
                    .orElseThrow(() -> new ImageFetchException(
                            ImageFetchException.NOT_AN_IMAGE, "link served no PNG, JPEG, WebP or GIF image"));
            if (!type.equals(fetched.contentType())
                    && !(type.equals("image/jpeg") && fetched.contentType().equals("image/jpg"))) {
                throw new ImageFetchException(
                        ImageFetchException.NOT_AN_IMAGE,
                        "image bytes are " + type + ", declared " + fetched.contentType());
            }
            return images.store()
                    .put(
                            ImageIds.newId(),
                            type,
                            owner,
                            new SequenceInputStream(new ByteArrayInputStream(head), body),
                            images.maxSize());
        } catch (IOException e) {
            throw new ImageFetchException(fetchFailure(fetched), "image fetch failed: " + e.getMessage(), e);
        } catch (ImageFetchException | ImageTooLargeException e) {
            throw e;
        } catch (ImageStoreException e) {
            // The store reports a body it could not read as its own failure: it was the link's.
            if (body.failed) {
                throw new ImageFetchException(fetchFailure(fetched), "image fetch failed: " + e.getMessage(), e);
            }
            throw e;
        }
    }

    private static String fetchFailure(SafeFetcher.Fetched fetched) {
        return fetched.pastDeadline() ? ImageFetchException.TIMEOUT : ImageFetchException.FAILED;
    }

    /** A fetched body that remembers whether reading it failed (the link's fault, not the store's). */
    private static final class FetchedBody extends FilterInputStream {
        volatile boolean failed;

        FetchedBody(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            try {
                return super.read();
            } catch (IOException e) {
                failed = true;
                throw e;
            }
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            try {
                return in.read(b, off, len);
            } catch (IOException e) {
                failed = true;
                throw e;
            }
        }
    }

    private StoredImage fromBase64(String b64, String owner) {
        try (InputStream decoded =
                Base64.getMimeDecoder().wrap(new ByteArrayInputStream(b64.getBytes(StandardCharsets.US_ASCII)))) {
            byte[] head = decoded.readNBytes(ImageSignatures.LENGTH);
            String type = ImageSignatures.detect(head, head.length)
                    .orElseThrow(() -> new ImageFetchException(
                            ImageFetchException.NOT_AN_IMAGE, "b64_json holds no PNG, JPEG, WebP or GIF image"));
            return images.store()
                    .put(
                            ImageIds.newId(),
                            type,
                            owner,
                            new SequenceInputStream(new ByteArrayInputStream(head), decoded),
                            images.maxSize());
        } catch (IOException e) {
            throw new ImageFetchException(ImageFetchException.NOT_AN_IMAGE, "b64_json not decodable", e);
        }
    }

    /** The {@code data[i].url} and {@code data[i].b64_json} strings of an answer, with where each url is. */
    private static List<Entry> entries(byte[] bytes) throws IOException {
        List<Entry> entries = new ArrayList<>();
        Map<Integer, String[]> found = new TreeMap<>();
        Map<Integer, long[]> where = new TreeMap<>();
        try (JsonParser p = Json.mapper().getFactory().createParser(bytes)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException("not an object");
            }
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                if (t != JsonToken.VALUE_STRING) {
                    continue;
                }
                JsonStreamContext c = p.getParsingContext(); // the object of the field
                JsonStreamContext array = c.getParent();
                JsonStreamContext data = array == null ? null : array.getParent();
                if (!c.inObject()
                        || array == null
                        || !array.inArray()
                        || data == null
                        || !data.inObject()
                        || !"data".equals(data.getCurrentName())
                        || data.getParent() == null
                        || !data.getParent().inRoot()) {
                    continue;
                }
                int index = array.getCurrentIndex();
                String name = c.getCurrentName();
                if ("url".equals(name)) {
                    found.computeIfAbsent(index, k -> new String[2])[0] = p.getText();
                    where.put(index, new long[] {
                        p.currentTokenLocation().getByteOffset(),
                        p.currentLocation().getByteOffset()
                    });
                } else if ("b64_json".equals(name)) {
                    found.computeIfAbsent(index, k -> new String[2])[1] = p.getText();
                }
            }
        }
        found.forEach((i, v) -> {
            long[] w = where.getOrDefault(i, new long[] {-1, -1});
            entries.add(new Entry(i, v[0], v[1], w[0], w[1]));
        });
        return entries;
    }

    private static ProxyResponse withBody(ProxyResponse answer, byte[] body, boolean notStored) {
        Map<String, List<String>> h = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        h.putAll(answer.headers().map());
        h.put("Content-Length", List.of(Integer.toString(body.length)));
        if (notStored) {
            h.put(Images.STORED_HEADER, List.of("false"));
        }
        return ProxyResponse.of(answer.status(), HttpHeaders.of(h, (n, v) -> true), body);
    }
}
