package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.images.FilesystemImageStore;
import io.github.openaiproxy.core.images.ImageConfig;
import io.github.openaiproxy.core.images.ImageStore;
import io.github.openaiproxy.core.images.ImageStoreException;
import io.github.openaiproxy.core.images.StoredImage;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * With {@code images.store} on, every image of a successful generation is stored before the answer goes out and
 * its {@code url} becomes the proxy's; the upstream's link may then expire. A link the proxy may not or cannot
 * store (host off the list, a redirect off it, too large, not an image) leaves the upstream's answer unchanged
 * with {@code x-openai-proxy-image-stored: false}: the image is never lost.
 */
class ProxyEngineImageStorageTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    /** A host that is not on images.fetch-hosts (another port of 127.0.0.1). */
    static WireMockServer elsewhere;

    static final AuthenticatedUser ALICE = new AuthenticatedUser("alice", role -> false);
    static final AuthenticatedUser BOB = new AuthenticatedUser("bob", role -> false);

    @TempDir
    Path directory;

    private ProxyEngine engine;
    /** What the metrics are told: each answer whose images were not stored, with the reason. */
    private final ProxyEngineObserverTest.Recorder observer = new ProxyEngineObserverTest.Recorder();

    @BeforeAll
    static void startElsewhere() {
        elsewhere = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        elsewhere.start();
    }

    @AfterAll
    static void stopElsewhere() {
        elsewhere.stop();
    }

    @AfterEach
    void stop() {
        if (engine != null) {
            engine.close();
        }
        elsewhere.resetAll();
    }

    private void start(UnaryOperator<ImageConfig> images) {
        engine = ProxyEngine.builder(config(upstream.baseUrl())
                        .images(images.apply(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.FILESYSTEM)))
                        .build())
                .imageStore(FilesystemImageStore.create(directory))
                .observer(observer)
                .build();
    }

    /** The reasons the observer was given, one per answer whose images were not stored. */
    private List<String> notStored() {
        return observer.calls.stream()
                .filter(c -> c.startsWith("image-not-stored "))
                .map(c -> c.substring("image-not-stored ".length()))
                .toList();
    }

    static byte[] png(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, 0, b, 0, 8);
        return b;
    }

    /** An upstream answer in OpenAI's shape, with its own spacing (kept byte for byte). */
    static String urlAnswer(String... links) {
        StringBuilder s = new StringBuilder("{\n  \"created\": 1713833628,\n  \"data\": [");
        for (int i = 0; i < links.length; i++) {
            s.append(i == 0 ? "" : ",")
                    .append("\n    {\"revised_prompt\": \"a cat \\u00e9\", \"url\":  \"")
                    .append(links[i].replace("/", "\\/"))
                    .append("\"}");
        }
        return s.append("\n  ],\n  \"usage\": {\"total_tokens\": 1}\n}").toString();
    }

    private static void upstreamAnswers(String path, String json) {
        upstream.server()
                .stubFor(post(path)
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody(json)));
    }

    private static void upstreamServes(String path, String type, byte[] bytes) {
        upstream.server()
                .stubFor(get(path)
                        .willReturn(aResponse().withHeader("Content-Type", type).withBody(bytes)));
    }

    private String link(String path) {
        return upstream.baseUrl().resolve(path).toString();
    }

    private Answer generate(String path, AuthenticatedUser user) {
        ProxyRequest.Builder b = EngineFixture.post(path, "{\"prompt\":\"a cat\",\"model\":\"dall-e-2\",\"n\":2}");
        if (user != null) {
            b.user(user);
        }
        return send(engine, b);
    }

    private Answer fetch(String path, AuthenticatedUser user) {
        ProxyRequest.Builder b = ProxyRequest.builder("GET", path);
        if (user != null) {
            b.user(user);
        }
        return send(engine, b);
    }

    private long storedImages() throws Exception {
        try (Stream<Path> files = Files.list(directory)) {
            return files.filter(f -> f.toString().endsWith(".meta")).count();
        }
    }

    private long filesInStore() throws Exception {
        try (Stream<Path> files = Files.list(directory)) {
            return files.count();
        }
    }

    /**
     * The engine closing while an image is being written to its caller's store (on the engine's image threads):
     * close() waits for the write (bounded) instead of returning at once, when its caller would close the store under
     * it.
     */
    @Test
    void closingTheEngineWaitsForAnImageBeingStored() throws Exception {
        upstreamServes("/files/one.png", "image/png", png(30_000, 1));
        upstreamServes("/files/two.png", "image/png", png(30_000, 2));
        upstreamAnswers("/v1/images/generations", urlAnswer(link("/files/one.png"), link("/files/two.png")));
        ImageStore files = FilesystemImageStore.create(directory);
        java.util.concurrent.CountDownLatch writing = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicInteger started = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicInteger written = new java.util.concurrent.atomic.AtomicInteger();
        ImageStore held = new ImageStore() {
            @Override
            public StoredImage put(String id, String contentType, String owner, InputStream bytes, long maxSize) {
                started.incrementAndGet();
                writing.countDown();
                try {
                    release.await(30, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                StoredImage stored = files.put(id, contentType, owner, bytes, maxSize);
                written.incrementAndGet();
                return stored;
            }

            @Override
            public Optional<StoredImage> find(String id) {
                return files.find(id);
            }

            @Override
            public Optional<InputStream> open(String id, long offset, long length) {
                return files.open(id, offset, length);
            }

            @Override
            public boolean delete(String id) {
                return files.delete(id);
            }

            @Override
            public int deleteExpired(Instant before) {
                return files.deleteExpired(before);
            }
        };
        engine = ProxyEngine.builder(config(upstream.baseUrl())
                        .images(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.FILESYSTEM))
                        .build())
                .imageStore(held)
                .build();
        engine.handle(EngineFixture.post("/images/generations", "{\"prompt\":\"a cat\",\"model\":\"dall-e-2\"}")
                .build());
        assertThat(writing.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();

        java.util.concurrent.atomic.AtomicInteger writtenWhenClosed = new java.util.concurrent.atomic.AtomicInteger(-1);
        Thread closer = new Thread(
                () -> {
                    engine.close();
                    writtenWhenClosed.set(written.get()); // its caller closes the store next
                },
                "closer");
        closer.start();
        closer.join(1000);
        assertThat(closer.isAlive())
                .as("close() waits for the image being written")
                .isTrue();
        release.countDown();
        closer.join(10_000);

        assertThat(closer.isAlive()).isFalse();
        assertThat(writtenWhenClosed.get())
                .as("the writes begun, finished before close() returned")
                .isEqualTo(started.get());
    }

    @Test
    void urlImagesAreStoredTheAnswerPointsAtTheProxyAndOutlivesTheUpstreamLink() {
        byte[] one = png(30_000, 1);
        byte[] two = png(40_000, 2);
        upstreamServes("/files/one.png", "image/png", one);
        upstreamServes("/files/two.png", "image/png", two);
        String original = urlAnswer(link("/files/one.png"), link("/files/two.png"));
        upstreamAnswers("/v1/images/generations", original);
        start(c -> c);

        Answer a = generate("/images/generations", null);
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.header("x-openai-proxy-image-stored")).isNull();
        assertThat(notStored()).isEmpty();
        List<String> links = new ArrayList<>();
        a.json().path("data").forEach(d -> links.add(d.path("url").asText()));
        assertThat(links).hasSize(2).allMatch(l -> l.matches("/images/files/img_[A-Za-z0-9_-]{32}\\.png"));
        // byte for byte the upstream's answer but for the links
        String back = a.text()
                .replace(
                        "\"" + links.get(0) + "\"",
                        "\"" + link("/files/one.png").replace("/", "\\/") + "\"")
                .replace(
                        "\"" + links.get(1) + "\"",
                        "\"" + link("/files/two.png").replace("/", "\\/") + "\"");
        assertThat(back).isEqualTo(original);
        assertThat(a.header("Content-Length"))
                .isEqualTo(Integer.toString(a.body().bytes().length));

        // the upstream's links expire; the proxy's still serve the same bytes
        upstream.server().stubFor(get(anyUrl()).willReturn(aResponse().withStatus(403)));
        assertThat(fetch(links.get(0), null).body().bytes()).isEqualTo(one);
        assertThat(fetch(links.get(1), null).body().bytes()).isEqualTo(two);
    }

    @Test
    void onTheJdbcStoreTheSameRoundTripWorksAndAStoreIsRequired() {
        byte[] bytes = png(200_000, 20);
        upstreamServes("/files/db.png", "image/png", bytes);
        upstreamAnswers("/v1/images/generations", urlAnswer(link("/files/db.png")));
        org.h2.jdbcx.JdbcDataSource h2 = new org.h2.jdbcx.JdbcDataSource();
        h2.setURL("jdbc:h2:mem:engine-images-" + java.util.UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        h2.setUser("sa");
        ProxyConfig jdbc = config(upstream.baseUrl())
                .images(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.JDBC))
                .build();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ProxyEngine.create(jdbc))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("images.store=jdbc");
        engine = ProxyEngine.builder(jdbc)
                .imageStore(io.github.openaiproxy.core.images.JdbcImageStore.create(h2))
                .build();
        String url = generate("/images/generations", null)
                .json()
                .path("data")
                .path(0)
                .path("url")
                .asText();
        upstream.server().stubFor(get(anyUrl()).willReturn(aResponse().withStatus(403)));
        assertThat(fetch(url, null).body().bytes()).isEqualTo(bytes);
        Answer range = send(engine, ProxyRequest.builder("GET", url).header("Range", "bytes=150000-"));
        assertThat(range.status()).isEqualTo(206);
        assertThat(range.body().bytes()).isEqualTo(java.util.Arrays.copyOfRange(bytes, 150_000, 200_000));
    }

    @Test
    void onTheJdbcStoreAnOwnerOfAnyLengthKeepsItsImagesAndOnlyItsOwn() {
        // A JWT's iss#sub or a host user's name (an X.509 DN) can be longer than the owner column's 200
        // characters: such a caller's images were never stored, and two owners must not share one by a prefix.
        byte[] bytes = png(1_000, 21);
        upstreamServes("/files/long.png", "image/png", bytes);
        upstreamAnswers("/v1/images/generations", urlAnswer(link("/files/long.png")));
        org.h2.jdbcx.JdbcDataSource h2 = new org.h2.jdbcx.JdbcDataSource();
        h2.setURL("jdbc:h2:mem:engine-images-" + java.util.UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        h2.setUser("sa");
        engine = ProxyEngine.builder(config(upstream.baseUrl())
                        .images(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.JDBC))
                        .build())
                .imageStore(io.github.openaiproxy.core.images.JdbcImageStore.create(h2))
                .observer(observer)
                .build();
        AuthenticatedUser carol = new AuthenticatedUser("CN=carol," + "OU=x,".repeat(60) + "O=a", role -> false);
        AuthenticatedUser dave = new AuthenticatedUser("CN=carol," + "OU=x,".repeat(60) + "O=b", role -> false);

        String url = generate("/images/generations", carol)
                .json()
                .path("data")
                .path(0)
                .path("url")
                .asText();
        assertThat(notStored()).isEmpty();
        assertThat(url).matches("/images/files/img_[A-Za-z0-9_-]{32}\\.png");
        assertThat(fetch(url, carol).body().bytes()).isEqualTo(bytes);
        assertThat(fetch(url, dave).status()).isEqualTo(404);
        assertThat(fetch(url, ALICE).status()).isEqualTo(404);
    }

    @Test
    void anOwnerIdALoneSurrogateOrAControlCharacterMakesSharesNoImageWithAnother() {
        // A store writes text as UTF-8 (a file's metadata, PostgreSQL, S3's encoded metadata), where an unpaired
        // surrogate becomes '?': "a\uD800" was kept as "a?", so the user "a?" was served the other's images (and
        // a long id's SHA-256 of its UTF-8 was the same for both).
        start(c -> c);
        for (String name : List.of("a", "CN=carol," + "OU=x,".repeat(60) + "O=a")) {
            byte[] bytes = png(1_000, 23);
            upstreamServes("/files/s.png", "image/png", bytes);
            upstreamAnswers("/v1/images/generations", urlAnswer(link("/files/s.png")));
            AuthenticatedUser surrogate = new AuthenticatedUser(name + "\uD800", role -> false);
            AuthenticatedUser question = new AuthenticatedUser(name + "?", role -> false);
            AuthenticatedUser control = new AuthenticatedUser(name + "\u0000", role -> false);
            AuthenticatedUser plain = new AuthenticatedUser(name, role -> false);
            for (AuthenticatedUser owner : List.of(surrogate, control)) {
                String url = generate("/images/generations", owner)
                        .json()
                        .path("data")
                        .path(0)
                        .path("url")
                        .asText();
                assertThat(url).as(name).matches("/images/files/img_[A-Za-z0-9_-]{32}\\.png");
                assertThat(fetch(url, owner).body().bytes()).as(name).isEqualTo(bytes);
                assertThat(fetch(url, question).status()).as(name).isEqualTo(404);
                assertThat(fetch(url, plain).status()).as(name).isEqualTo(404);
            }
        }
        assertThat(notStored()).isEmpty();
    }

    @Test
    void thePassThroughRouteIsRewrittenTooAndAPublicBaseUrlMakesLinksAbsolute() {
        byte[] one = png(1_000, 3);
        upstreamServes("/files/p.png", "image/png", one);
        upstreamAnswers("/v1/images/generations", urlAnswer(link("/files/p.png")));
        start(c -> c.withPublicBaseUrl(URI.create("https://images.example.com/ai/")));
        Answer a = generate("/v1/images/generations", null);
        String url = a.json().path("data").path(0).path("url").asText();
        assertThat(url).matches("https://images\\.example\\.com/ai/images/files/img_[A-Za-z0-9_-]{32}\\.png");
        assertThat(fetch(url.substring("https://images.example.com/ai".length()), null)
                        .body()
                        .bytes())
                .isEqualTo(one);
    }

    @Test
    void b64JsonImagesWithoutASessionAreNotStoredAndTheAnswerKeepsThem() throws Exception {
        // Only a session learns the links of b64_json images (the answer keeps its base64): stored without one, they
        // were images nobody could ever fetch, kept until deleted. SessionImagesHttpTest stores them with a session.
        String b64 = Base64.getEncoder().encodeToString(png(5_000, 4));
        String original = "{\"created\":1,\"data\":[{\"b64_json\":\"" + b64 + "\"},{\"b64_json\":\"" + b64 + "\"}]}";
        upstreamAnswers("/v1/images/generations", original);
        start(c -> c);
        for (String path : List.of("/images/generations", "/v1/images/generations")) {
            Answer a = generate(path, null);
            assertThat(a.text()).isEqualTo(original);
            assertThat(a.header("x-openai-proxy-image-stored")).isNull();
        }
        assertThat(storedImages()).isZero();
        assertThat(notStored()).isEmpty();
    }

    @Test
    void b64JsonIsNotStoredWhenStoreB64IsOff() throws Exception {
        String b64 = Base64.getEncoder().encodeToString(png(5_000, 5));
        upstreamAnswers("/v1/images/generations", "{\"created\":1,\"data\":[{\"b64_json\":\"" + b64 + "\"}]}");
        start(c -> c.withStoreB64(false));
        assertThat(generate("/images/generations", null).status()).isEqualTo(200);
        assertThat(storedImages()).isZero();
    }

    private void assertUnstored(Answer a, String original, String reason) throws Exception {
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.text()).isEqualTo(original);
        assertThat(a.header("x-openai-proxy-image-stored")).isEqualTo("false");
        assertThat(filesInStore()).isZero(); // nothing half-kept, the other images of the answer deleted
        // the metrics learn why, once per answer
        assertThat(notStored()).containsExactly(reason);
        observer.calls.clear();
    }

    @Test
    void aLinkToAHostNotOnTheListIsNotFetched() throws Exception {
        upstreamServes("/files/ok.png", "image/png", png(100, 6));
        elsewhere.stubFor(get(anyUrl())
                .willReturn(aResponse().withHeader("Content-Type", "image/png").withBody(png(100, 7))));
        String original = urlAnswer(link("/files/ok.png"), elsewhere.baseUrl() + "/files/x.png");
        upstreamAnswers("/v1/images/generations", original);
        start(c -> c);
        assertUnstored(generate("/images/generations", null), original, "fetch_refused_host");
        elsewhere.verify(0, anyRequestedFor(anyUrl()));
    }

    @Test
    void aRedirectOffTheListIsNotFollowed() throws Exception {
        elsewhere.stubFor(get(anyUrl())
                .willReturn(aResponse().withHeader("Content-Type", "image/png").withBody(png(100, 8))));
        upstream.server()
                .stubFor(get("/files/moved.png")
                        .willReturn(aResponse()
                                .withStatus(302)
                                .withHeader("Location", elsewhere.baseUrl() + "/files/x.png")));
        upstream.server()
                .stubFor(get("/files/ssh.png")
                        .willReturn(aResponse().withStatus(302).withHeader("Location", "http://127.0.0.1:22/")));
        String original = urlAnswer(link("/files/moved.png"));
        upstreamAnswers("/v1/images/generations", original);
        start(c -> c);
        assertUnstored(generate("/images/generations", null), original, "fetch_refused_host");
        elsewhere.verify(0, anyRequestedFor(anyUrl()));

        String ssh = urlAnswer(link("/files/ssh.png"));
        upstreamAnswers("/v1/images/generations", ssh);
        assertUnstored(generate("/images/generations", null), ssh, "fetch_refused_host");
    }

    @Test
    void aStoreThatFailsLeavesTheAnswerUnstoredAndTheMetricsSaySo() throws Exception {
        upstreamServes("/files/ok.png", "image/png", png(100, 18));
        String original = urlAnswer(link("/files/ok.png"));
        upstreamAnswers("/v1/images/generations", original);
        ImageStore broken = new ImageStore() {
            @Override
            public StoredImage put(String id, String contentType, String owner, InputStream bytes, long maxSize) {
                throw new ImageStoreException("disk full");
            }

            @Override
            public Optional<StoredImage> find(String id) {
                return Optional.empty();
            }

            @Override
            public Optional<InputStream> open(String id, long offset, long length) {
                return Optional.empty();
            }

            @Override
            public boolean delete(String id) {
                return false;
            }

            @Override
            public int deleteExpired(Instant before) {
                return 0;
            }
        };
        engine = ProxyEngine.builder(config(upstream.baseUrl())
                        .images(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.FILESYSTEM))
                        .build())
                .imageStore(broken)
                .observer(observer)
                .build();
        assertUnstored(generate("/images/generations", null), original, "store_failed");
    }

    @Test
    void aStoreThatStallsLeavesTheAnswerUnstoredAtTheFetchTimeoutAndLaterDeletesWhatItWrote() throws Exception {
        upstreamServes("/files/ok.png", "image/png", png(100, 19));
        String original = urlAnswer(link("/files/ok.png"));
        upstreamAnswers("/v1/images/generations", original);
        // A database lock or a stalled disk: the write does not come back until released.
        FilesystemImageStore disk = FilesystemImageStore.create(directory);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch written = new java.util.concurrent.CountDownLatch(1);
        ImageStore stalled = new ImageStore() {
            @Override
            public StoredImage put(String id, String contentType, String owner, InputStream bytes, long maxSize) {
                StoredImage image = disk.put(id, contentType, owner, bytes, maxSize);
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                written.countDown();
                return image;
            }

            @Override
            public Optional<StoredImage> find(String id) {
                return disk.find(id);
            }

            @Override
            public Optional<InputStream> open(String id, long offset, long length) {
                return disk.open(id, offset, length);
            }

            @Override
            public boolean delete(String id) {
                return disk.delete(id);
            }

            @Override
            public int deleteExpired(Instant before) {
                return disk.deleteExpired(before);
            }
        };
        engine = ProxyEngine.builder(config(upstream.baseUrl())
                        .images(ImageConfig.DEFAULTS
                                .withStore(ImageConfig.Store.FILESYSTEM)
                                .withFetchTimeout(java.time.Duration.ofMillis(500)))
                        .build())
                .imageStore(stalled)
                .observer(observer)
                .build();
        try {
            long started = System.nanoTime();
            Answer a = generate("/images/generations", null);
            // the client paid for the image: it gets the upstream's answer, not a wait for the store
            assertThat(java.time.Duration.ofNanos(System.nanoTime() - started))
                    .isLessThan(java.time.Duration.ofSeconds(15));
            assertThat(a.status()).isEqualTo(200);
            assertThat(a.text()).isEqualTo(original);
            assertThat(a.header("x-openai-proxy-image-stored")).isEqualTo("false");
            assertThat(notStored()).containsExactly("store_timeout");
        } finally {
            release.countDown();
        }
        // the write that came back late is undone: nobody was given its link
        assertThat(written.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        long until = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (filesInStore() > 0 && System.nanoTime() < until) {
            Thread.sleep(20);
        }
        assertThat(filesInStore()).isZero();
    }

    @Test
    void aStoreThatFinishesAroundTheDeadlineLeavesExactlyTheImagesItsAnswersLinkTo() throws Exception {
        // The deadline and the store race: an answer either links to images that stay, or goes out unstored and
        // what was written for it is deleted. Never a link to a deleted image, never an image nobody links to.
        upstreamServes("/files/r1.png", "image/png", png(100, 31));
        upstreamServes("/files/r2.png", "image/png", png(100, 32));
        upstreamAnswers("/v1/images/generations", urlAnswer(link("/files/r1.png"), link("/files/r2.png")));
        FilesystemImageStore disk = FilesystemImageStore.create(directory);
        Random jitter = new Random(7);
        ImageStore slow = new ImageStore() {
            @Override
            public StoredImage put(String id, String contentType, String owner, InputStream bytes, long maxSize) {
                StoredImage image = disk.put(id, contentType, owner, bytes, maxSize);
                int delay;
                synchronized (jitter) {
                    delay = jitter.nextInt(120);
                }
                try {
                    Thread.sleep(delay);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return image;
            }

            @Override
            public Optional<StoredImage> find(String id) {
                return disk.find(id);
            }

            @Override
            public Optional<InputStream> open(String id, long offset, long length) {
                return disk.open(id, offset, length);
            }

            @Override
            public boolean delete(String id) {
                return disk.delete(id);
            }

            @Override
            public int deleteExpired(Instant before) {
                return disk.deleteExpired(before);
            }
        };
        engine = ProxyEngine.builder(config(upstream.baseUrl())
                        .images(ImageConfig.DEFAULTS
                                .withStore(ImageConfig.Store.FILESYSTEM)
                                .withFetchTimeout(java.time.Duration.ofMillis(50)))
                        .build())
                .imageStore(slow)
                .observer(observer)
                .build();
        List<String> links = new java.util.ArrayList<>();
        int unstored = 0;
        for (int i = 0; i < 40; i++) {
            Answer a = generate("/images/generations", null);
            assertThat(a.status()).isEqualTo(200);
            if ("false".equals(a.header("x-openai-proxy-image-stored"))) {
                unstored++;
                assertThat(a.json().path("data").path(0).path("url").asText()).isEqualTo(link("/files/r1.png"));
            } else {
                a.json().path("data").forEach(d -> links.add(d.path("url").asText()));
            }
        }
        Thread.sleep(1_000); // late writes come back and are deleted
        assertThat(unstored).as("some answers were too late").isPositive();
        assertThat(links).as("some answers were stored").isNotEmpty();
        for (String url : links) {
            assertThat(fetch(url, null).status()).as(url).isEqualTo(200);
        }
        assertThat(storedImages()).isEqualTo(links.size());
        assertThat(filesInStore()).isEqualTo(2L * links.size());
        // a fetch can miss its 50 ms too on a busy machine
        assertThat(notStored())
                .hasSize(unstored)
                .contains("store_timeout")
                .isSubsetOf("store_timeout", "fetch_timeout");
    }

    @Test
    void aRedirectOnTheListIsFollowed() {
        byte[] bytes = png(100, 9);
        upstreamServes("/files/real.png", "image/png", bytes);
        upstream.server()
                .stubFor(get("/files/moved.png")
                        .willReturn(aResponse().withStatus(302).withHeader("Location", "/files/real.png")));
        upstreamAnswers("/v1/images/generations", urlAnswer(link("/files/moved.png")));
        start(c -> c);
        Answer a = generate("/images/generations", null);
        assertThat(fetch(a.json().path("data").path(0).path("url").asText(), null)
                        .body()
                        .bytes())
                .isEqualTo(bytes);
    }

    @Test
    void anImageOverTheCapIsCutAndNotStored() throws Exception {
        upstreamServes("/files/big.png", "image/png", png(50_000, 10));
        String original = urlAnswer(link("/files/big.png"));
        upstreamAnswers("/v1/images/generations", original);
        start(c -> c.withMaxSize(10_000));
        assertUnstored(generate("/images/generations", null), original, "too_large");
    }

    @Test
    void anImageOverTheCapWithoutContentLengthIsCutToo() throws Exception {
        upstream.server()
                .stubFor(get("/files/chunked.png")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "image/png")
                                .withHeader("Transfer-Encoding", "chunked")
                                .withBody(png(50_000, 11))));
        String original = urlAnswer(link("/files/chunked.png"));
        upstreamAnswers("/v1/images/generations", original);
        start(c -> c.withMaxSize(10_000));
        assertUnstored(generate("/images/generations", null), original, "too_large");
    }

    @Test
    void aSlowLinkIsGivenUpAtTheFetchTimeout() throws Exception {
        upstream.server()
                .stubFor(get("/files/slow-headers.png")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "image/png")
                                .withBody(png(100, 16))
                                .withFixedDelay(20_000)));
        // headers at once, then a body that trickles for 20 s: the deadline covers the body too
        upstream.server()
                .stubFor(get("/files/slow-body.png")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "image/png")
                                .withBody(png(10_000, 17))
                                .withChunkedDribbleDelay(20, 20_000)));
        start(c -> c.withFetchTimeout(java.time.Duration.ofMillis(500)));
        for (String path : List.of("/files/slow-headers.png", "/files/slow-body.png")) {
            String original = urlAnswer(link(path));
            upstreamAnswers("/v1/images/generations", original);
            long started = System.nanoTime();
            assertUnstored(generate("/images/generations", null), original, "fetch_timeout");
            // not a timing check of the proxy's speed: only that it did not wait for the 20 s upstream
            assertThat(java.time.Duration.ofNanos(System.nanoTime() - started))
                    .as(path)
                    .isLessThan(java.time.Duration.ofSeconds(15));
        }
    }

    @Test
    void htmlServedAsAnImageIsRefused() throws Exception {
        upstreamServes("/files/page.png", "image/png", "<html><body>hi</body></html>".getBytes(StandardCharsets.UTF_8));
        upstreamServes("/files/typed.png", "text/html", png(100, 12));
        for (String path : List.of("/files/page.png", "/files/typed.png")) {
            String original = urlAnswer(link(path));
            upstreamAnswers("/v1/images/generations", original);
            if (engine == null) {
                start(c -> c);
            }
            assertUnstored(generate("/images/generations", null), original, "not_an_image");
        }
    }

    @Test
    void aLaterGenerationDeletesTheImagesPastRetentionFromTheStore() throws Exception {
        ProxyEngineImageFilesTest.MutableClock clock =
                new ProxyEngineImageFilesTest.MutableClock(java.time.Instant.parse("2026-01-01T00:00:00Z"));
        upstreamServes("/files/old.png", "image/png", png(100, 15));
        upstreamAnswers("/v1/images/generations", urlAnswer(link("/files/old.png")));
        engine = ProxyEngine.builder(config(upstream.baseUrl())
                        .images(ImageConfig.DEFAULTS
                                .withStore(ImageConfig.Store.FILESYSTEM)
                                .withRetention(java.time.Duration.ofHours(1)))
                        .build())
                .imageStore(FilesystemImageStore.create(directory, clock))
                .clock(clock)
                .build();
        String old = generate("/images/generations", null)
                .json()
                .path("data")
                .path(0)
                .path("url")
                .asText();
        assertThat(storedImages()).isEqualTo(1);
        clock.advance(java.time.Duration.ofHours(2));
        assertThat(fetch(old, null).status()).isEqualTo(404);
        generate("/images/generations", null);
        // the purge runs on the image threads: wait for it, then only the new image is left
        org.awaitility.Awaitility.await()
                .atMost(java.time.Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(storedImages()).isEqualTo(1));
        String id = old.substring(old.lastIndexOf('/') + 1, old.lastIndexOf('.'));
        assertThat(Files.exists(directory.resolve(id + ".meta"))).isFalse();
    }

    @Test
    void anUpstreamErrorPassesUnchanged() {
        upstream.server()
                .stubFor(post("/v1/images/generations")
                        .willReturn(aResponse()
                                .withStatus(400)
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"error\":{\"message\":\"no\"}}")));
        start(c -> c);
        Answer a = generate("/images/generations", null);
        assertThat(a.status()).isEqualTo(400);
        assertThat(a.header("x-openai-proxy-image-stored")).isNull();
    }

    @Test
    void aPrivateImageIsServedToItsMakerOnly() {
        byte[] bytes = png(100, 13);
        upstreamServes("/files/mine.png", "image/png", bytes);
        upstreamAnswers("/v1/images/generations", urlAnswer(link("/files/mine.png")));
        start(c -> c);
        String url = generate("/images/generations", ALICE)
                .json()
                .path("data")
                .path(0)
                .path("url")
                .asText();
        assertThat(fetch(url, ALICE).body().bytes()).isEqualTo(bytes);
        assertThat(fetch(url, BOB).status()).isEqualTo(404);
        assertThat(fetch(url, null).status()).isEqualTo(404);
    }

    @Test
    void withImagesPrivateOffTheIdIsTheCapability() {
        upstreamServes("/files/shared.png", "image/png", png(100, 14));
        upstreamAnswers("/v1/images/generations", urlAnswer(link("/files/shared.png")));
        start(c -> c.withPrivateImages(false));
        String url = generate("/images/generations", ALICE)
                .json()
                .path("data")
                .path(0)
                .path("url")
                .asText();
        assertThat(fetch(url, BOB).status()).isEqualTo(200);
    }
}
