package io.github.openaiproxy.core;

import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.get;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.images.FilesystemImageStore;
import io.github.openaiproxy.core.images.ImageConfig;
import io.github.openaiproxy.core.images.ImageIds;
import io.github.openaiproxy.core.images.StoredImage;
import io.github.openaiproxy.core.testing.Answer;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code GET|HEAD|DELETE /images/files/{id}.{ext}}: stored bytes with their type, length, cache headers and
 * ETag; 304, one range (206/416); another owner's private image, an expired one and an unknown one all get the
 * same 404; malformed names a 400 without asking the store; never a 5xx.
 */
class ProxyEngineImageFilesTest {
    static final AuthenticatedUser ALICE = new AuthenticatedUser("alice", role -> false);
    static final AuthenticatedUser BOB = new AuthenticatedUser("bob", role -> false);

    @TempDir
    Path directory;

    private final MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
    private FilesystemImageStore store;
    private ProxyEngine engine;
    private final byte[] png = png(200_000);

    @BeforeEach
    void start() {
        store = FilesystemImageStore.create(directory, clock);
        engine = ProxyEngine.builder(config(URI.create("http://127.0.0.1:9"))
                        .images(ImageConfig.DEFAULTS
                                .withStore(ImageConfig.Store.FILESYSTEM)
                                .withRetention(Duration.ofDays(30)))
                        .build())
                .imageStore(store)
                .clock(clock)
                .build();
    }

    @AfterEach
    void stop() {
        engine.close();
    }

    static byte[] png(int size) {
        byte[] b = new byte[size];
        new Random(size).nextBytes(b);
        System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, 0, b, 0, 8);
        return b;
    }

    private StoredImage put(String owner) {
        return store.put(ImageIds.newId(), "image/png", owner, new ByteArrayInputStream(png), 1 << 20);
    }

    private Answer fetch(String path, AuthenticatedUser user, String... headers) {
        ProxyRequest.Builder b = get(path);
        if (user != null) {
            b.user(user);
        }
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return send(engine, b);
    }

    @Test
    void servesTheStoredBytesWithTypeLengthCacheHeadersAndEtag() {
        StoredImage image = put(null);
        Answer a = fetch("/images/files/" + image.id() + ".png", null);
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.body().bytes()).isEqualTo(png);
        assertThat(a.header("Content-Type")).isEqualTo("image/png");
        assertThat(a.header("Content-Length")).isEqualTo(Integer.toString(png.length));
        assertThat(a.header("Cache-Control")).isEqualTo("public, max-age=31536000, immutable");
        assertThat(a.header("ETag")).isEqualTo(image.etag());
        assertThat(a.header("X-Content-Type-Options")).isEqualTo("nosniff");
        // Once, as on every other answer: the route's own headers must not repeat the proxy's common ones.
        assertThat(a.headers().allValues("X-Content-Type-Options")).containsExactly("nosniff");
        assertThat(a.headers().allValues("Vary")).hasSize(1);
        assertThat(a.body().items()).hasSizeGreaterThan(1); // streamed in chunks, not one buffer

        Answer head = send(engine, ProxyRequest.builder("HEAD", "/images/files/" + image.id() + ".png"));
        assertThat(head.status()).isEqualTo(200);
        assertThat(head.header("Content-Length")).isEqualTo(Integer.toString(png.length));
        assertThat(head.body().bytes()).isEmpty();
    }

    @Test
    void aMatchingIfNoneMatchIs304() {
        StoredImage image = put(null);
        Answer a = fetch("/images/files/" + image.id() + ".png", null, "If-None-Match", "\"x\", " + image.etag());
        assertThat(a.status()).isEqualTo(304);
        assertThat(a.header("ETag")).isEqualTo(image.etag());
        assertThat(a.body().bytes()).isEmpty();
        assertThat(fetch("/images/files/" + image.id() + ".png", null, "If-None-Match", "\"other\"")
                        .status())
                .isEqualTo(200);
    }

    @Test
    void oneRangeIs206AndARangePastTheEndIs416() {
        StoredImage image = put(null);
        String path = "/images/files/" + image.id() + ".png";
        Answer a = fetch(path, null, "Range", "bytes=100-199");
        assertThat(a.status()).isEqualTo(206);
        assertThat(a.header("Content-Range")).isEqualTo("bytes 100-199/" + png.length);
        assertThat(a.header("Content-Length")).isEqualTo("100");
        assertThat(a.body().bytes()).isEqualTo(Arrays.copyOfRange(png, 100, 200));

        Answer suffix = fetch(path, null, "Range", "bytes=-10");
        assertThat(suffix.body().bytes()).isEqualTo(Arrays.copyOfRange(png, png.length - 10, png.length));

        Answer past = fetch(path, null, "Range", "bytes=" + png.length + "-");
        assertThat(past.status()).isEqualTo(416);
        assertThat(past.header("Content-Range")).isEqualTo("bytes */" + png.length);

        // several ranges or garbage: the whole image
        assertThat(fetch(path, null, "Range", "bytes=0-1,5-6").status()).isEqualTo(200);
        assertThat(fetch(path, null, "Range", "pages=1").status()).isEqualTo(200);
        // a stale If-Range: the whole image
        assertThat(fetch(path, null, "Range", "bytes=0-1", "If-Range", "\"old\"")
                        .status())
                .isEqualTo(200);
    }

    @Test
    void aPrivateImageIsServedToItsOwnerOnlyAndIsPrivateInCaches() {
        StoredImage image = put("user:alice");
        String path = "/images/files/" + image.id() + ".png";
        Answer owner = fetch(path, ALICE);
        assertThat(owner.status()).isEqualTo(200);
        assertThat(owner.header("Cache-Control")).isEqualTo("private, max-age=31536000, immutable");
        Answer other = fetch(path, BOB);
        Answer anonymous = fetch(path, null);
        Answer unknown = fetch("/images/files/" + ImageIds.newId() + ".png", BOB);
        assertThat(other.status()).isEqualTo(404);
        assertThat(other.body().bytes()).isEqualTo(unknown.body().bytes());
        // The same headers but for each answer's own random x-request-id.
        assertThat(withoutRequestId(other)).isEqualTo(withoutRequestId(unknown));
        assertThat(anonymous.body().bytes()).isEqualTo(unknown.body().bytes());
        // and no one else may delete it
        assertThat(send(engine, ProxyRequest.builder("DELETE", path).user(BOB)).status())
                .isEqualTo(404);
        assertThat(fetch(path, ALICE).status()).isEqualTo(200);
    }

    @Test
    void afterRetentionAnImageIs404() {
        StoredImage image = put(null);
        String path = "/images/files/" + image.id() + ".png";
        clock.advance(Duration.ofDays(30).minusSeconds(1));
        assertThat(fetch(path, null).status()).isEqualTo(200);
        clock.advance(Duration.ofSeconds(1));
        Answer expired = fetch(path, null);
        assertThat(expired.status()).isEqualTo(404);
        assertThat(expired.body().bytes())
                .isEqualTo(fetch("/images/files/" + ImageIds.newId() + ".png", null)
                        .body()
                        .bytes());
    }

    @Test
    void theOwnerDeletesAnImage() {
        StoredImage image = put("user:alice");
        Answer deleted = send(
                engine,
                ProxyRequest.builder("DELETE", "/images/files/" + image.id()).user(ALICE));
        assertThat(deleted.status()).isEqualTo(200);
        assertThat(deleted.json().path("deleted").asBoolean()).isTrue();
        assertThat(fetch("/images/files/" + image.id() + ".png", ALICE).status())
                .isEqualTo(404);
        assertThat(send(
                                engine,
                                ProxyRequest.builder("DELETE", "/images/files/" + image.id())
                                        .user(ALICE))
                        .status())
                .isEqualTo(404);
    }

    @Test
    void anotherExtensionThanTheImagesTypeIs404() {
        StoredImage image = put(null);
        assertThat(fetch("/images/files/" + image.id() + ".webp", null).status())
                .isEqualTo(404);
        assertThat(fetch("/images/files/" + image.id() + ".PNG", null).status()).isEqualTo(200);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "/images/files/../secret.png",
                "/images/files/..%2F..%2Fetc%2Fpasswd",
                "/images/files/img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.exe",
                "/images/files/img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.svg",
                "/images/files/img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                "/images/files/img_AAAA.png",
                "/images/files/.png",
                "/images/files/img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.png.meta",
                "/images/files/img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.meta",
                "/images/files/%00.png"
            })
    void badNamesAreA4xxNeverA5xx(String path) {
        int status = fetch(path, null).status();
        assertThat(status).as(path).isBetween(400, 499);
    }

    @Test
    void aTenKilobyteIdIsA4xx() {
        assertThat(fetch("/images/files/img_" + "A".repeat(10_000) + ".png", null)
                        .status())
                .isBetween(400, 499);
        assertThat(fetch("/images/files/img_" + "A".repeat(200) + ".png", null).status())
                .isEqualTo(400);
    }

    /** A clock the test moves. */
    static final class MutableClock extends Clock {
        private volatile Instant now;

        MutableClock(Instant now) {
            this.now = now;
        }

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    private static java.util.Map<String, java.util.List<String>> withoutRequestId(Answer a) {
        java.util.Map<String, java.util.List<String>> headers =
                new java.util.TreeMap<>(a.headers().map());
        assertThat(headers.remove("x-request-id")).singleElement().asString().startsWith("req_proxy_");
        return headers;
    }
}
