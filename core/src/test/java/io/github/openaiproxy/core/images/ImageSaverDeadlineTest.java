package io.github.openaiproxy.core.images;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.observe.ProxyObserver;
import java.io.ByteArrayOutputStream;
import java.lang.ref.WeakReference;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageSaverDeadlineTest {
    @TempDir
    Path directory;

    private final ExecutorService threads = Executors.newFixedThreadPool(2);

    @AfterEach
    void stop() {
        threads.shutdownNow();
    }

    @Test
    void anAnswerStoredInTimeIsNotHeldUntilItsDeadline() throws Exception {
        // An hour's fetch-timeout: the deadline of a stored answer is two hours away. Its answer (megabytes of
        // base64 images) must be free as soon as it is stored, not kept by the deadline's timer until then.
        Images images = new Images(
                FilesystemImageStore.create(directory),
                ImageConfig.DEFAULTS
                        .withStore(ImageConfig.Store.FILESYSTEM)
                        .withStoreB64(true)
                        .withFetchTimeout(Duration.ofHours(1)),
                10_000_000,
                URI.create("http://127.0.0.1:9"),
                "",
                threads,
                Clock.systemUTC());
        WeakReference<ProxyResponse> answer = saveOne(images);
        for (int i = 0; i < 50 && answer.get() != null; i++) {
            System.gc();
            Thread.sleep(20);
        }
        assertThat(answer.get()).as("the stored answer, still reachable").isNull();
    }

    private static WeakReference<ProxyResponse> saveOne(Images images) throws Exception {
        byte[] json = ("{\"created\":1,\"data\":[{\"b64_json\":\""
                        + Base64.getEncoder().encodeToString(png()) + "\"}]}")
                .getBytes(StandardCharsets.UTF_8);
        ProxyResponse answer = ProxyResponse.of(
                200, HttpHeaders.of(Map.of("content-type", List.of("application/json")), (n, v) -> true), json);
        Images.Saved saved = images.save(answer, null, Optional.empty(), true, ProxyObserver.Observation.NONE)
                .get(10, TimeUnit.SECONDS);
        assertThat(saved.links()).hasSize(1);
        return new WeakReference<>(answer);
    }

    private static byte[] png() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        out.writeBytes(new byte[200_000]);
        return out.toByteArray();
    }
}
