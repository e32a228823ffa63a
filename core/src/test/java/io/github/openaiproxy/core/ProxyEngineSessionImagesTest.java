package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.get;
import static io.github.openaiproxy.core.EngineFixture.post;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.client.WireMock;
import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.images.FilesystemImageStore;
import io.github.openaiproxy.core.images.ImageConfig;
import io.github.openaiproxy.core.images.Images;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A session's images keep the image owner rules: deleting a session deletes the images of its image replies
 * that the deleting caller may see, never another identity's private image (an anonymous session is usable by
 * whoever holds its id, so others may have generated in it).
 */
class ProxyEngineSessionImagesTest {
    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    static final AuthenticatedUser ALICE = new AuthenticatedUser("alice", role -> false);
    static final AuthenticatedUser BOB = new AuthenticatedUser("bob", role -> false);

    @TempDir
    Path directory;

    private ProxyEngine engine;

    @BeforeEach
    void start() {
        byte[] png = new byte[300];
        new Random(1).nextBytes(png);
        System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, 0, png, 0, 8);
        upstream.server()
                .stubFor(WireMock.post("/v1/images/generations")
                        .willReturn(aResponse()
                                .withHeader("Content-Type", "application/json")
                                .withBody("{\"created\":1,\"data\":[{\"b64_json\":\""
                                        + Base64.getEncoder().encodeToString(png) + "\"}]}")));
        engine = ProxyEngine.builder(config(upstream.baseUrl())
                        .images(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.FILESYSTEM))
                        .build())
                .imageStore(FilesystemImageStore.create(directory))
                .build();
    }

    @AfterEach
    void close() {
        engine.close();
    }

    private Answer as(AuthenticatedUser user, ProxyRequest.Builder request) {
        return send(engine, user == null ? request : request.user(user));
    }

    private String newSession(AuthenticatedUser user) {
        return as(user, post("/sessions", "{}")).json().path("sessionId").asText();
    }

    /** Generates a b64_json image in the session; the link the session recorded for it. */
    private String generate(AuthenticatedUser user, String session) {
        Answer answer = as(
                user,
                post(
                        "/images/generations",
                        "{\"prompt\":\"x\",\"model\":\"dall-e-2\",\"sessionId\":\"" + session + "\"}"));
        assertThat(answer.status()).isEqualTo(200);
        assertThat(answer.json().at("/data/0/b64_json").asText()).isNotEmpty(); // the answer keeps b64_json
        var messages =
                as(user, get("/sessions/" + session + "/messages")).json().path("messages");
        String link = messages.get(messages.size() - 1).path("content").asText();
        assertThat(Images.idsInImageReply(link)).hasSize(1);
        return link;
    }

    @Test
    void deletingAnAnonymousSessionLeavesAnotherIdentitysPrivateImage() {
        String session = newSession(null);
        String bobs = generate(BOB, session);
        String anonymous = generate(null, session);
        assertThat(as(BOB, get(bobs)).status()).isEqualTo(200);
        assertThat(as(null, get(bobs)).status()).isEqualTo(404); // private: only bob sees it

        assertThat(as(null, ProxyRequest.builder("DELETE", "/sessions/" + session))
                        .status())
                .isEqualTo(200);
        assertThat(as(null, get(anonymous)).status()).isEqualTo(404);
        assertThat(as(BOB, get(bobs)).status()).isEqualTo(200); // not the deleting caller's to delete
    }

    @Test
    void anOwnedSessionsImagesGoWithItAndOnlyItsOwnerCanDeleteIt() {
        String session = newSession(ALICE);
        String link = generate(ALICE, session);
        assertThat(as(BOB, ProxyRequest.builder("DELETE", "/sessions/" + session))
                        .status())
                .isEqualTo(404);
        assertThat(as(ALICE, get(link)).status()).isEqualTo(200);
        assertThat(as(ALICE, ProxyRequest.builder("DELETE", "/sessions/" + session))
                        .status())
                .isEqualTo(200);
        assertThat(as(ALICE, get(link)).status()).isEqualTo(404);
    }

    @Test
    void onlyRepliesMadeOfProxyLinksCount() {
        assertThat(Images.idsInImageReply("/images/files/img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.png"))
                .containsExactly("img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assertThat(Images.idsInImageReply("https://example.com/ai/images/files/img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.png"
                        + "\n/images/files/img_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB.webp"))
                .containsExactly("img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "img_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
        for (String text : List.of(
                "See /images/files/img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.png",
                "/images/files/img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.png\nand more",
                "/images/files/img_short.png",
                "/images/files/../img_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.exe",
                "")) {
            assertThat(Images.idsInImageReply(text)).as(text).isEmpty();
        }
    }
}
