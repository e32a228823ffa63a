package io.github.openaiproxy.core;

import static io.github.openaiproxy.core.EngineFixture.config;
import static io.github.openaiproxy.core.EngineFixture.send;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.access.AccessConfig;
import io.github.openaiproxy.core.access.AuditEntry;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.http.AuthenticatedUser;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.images.FilesystemImageStore;
import io.github.openaiproxy.core.images.ImageConfig;
import io.github.openaiproxy.core.images.ImageIds;
import io.github.openaiproxy.core.images.ImageStore;
import io.github.openaiproxy.core.images.ImageStoreException;
import io.github.openaiproxy.core.images.StoredImage;
import io.github.openaiproxy.core.testing.Answer;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code DELETE /admin/images/{id}}: an admin deletes any stored image, whoever made it, with the admin API's own
 * rules (admin token or admin role), audited as {@code image.delete} with the image's id; an unknown or malformed
 * id is 404 without an audit entry, never a 5xx.
 */
class ProxyEngineAdminImagesTest {
    static final String TOKEN = "admin-token-0123456789abcdef0123456789";
    static final AuthenticatedUser ALICE = new AuthenticatedUser("alice", role -> false);

    @TempDir
    Path directory;

    private final AuditLog audit = AuditLog.inMemory();
    private FilesystemImageStore store;
    private ProxyEngine engine;

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close();
        }
    }

    private void start(boolean images) {
        AccessConfig access = AccessConfig.DEFAULTS.withAdmin(
                new AccessConfig.Admin(true, "/admin", List.of(ProxyKeys.hash(TOKEN)), "proxy-admin"));
        ProxyConfig.Builder c = config(URI.create("http://127.0.0.1:9")).access(access);
        ProxyEngine.Builder b = ProxyEngine.builder(c.images(
                                images
                                        ? ImageConfig.DEFAULTS.withStore(ImageConfig.Store.FILESYSTEM)
                                        : ImageConfig.DEFAULTS)
                        .build())
                .auditLog(audit);
        if (images) {
            store = FilesystemImageStore.create(directory);
            b.imageStore(store);
        }
        engine = b.build();
    }

    private StoredImage alicesImage() {
        byte[] png = ProxyEngineImageFilesTest.png(1_000);
        return store.put(ImageIds.newId(), "image/png", "user:alice", new ByteArrayInputStream(png), 1 << 20);
    }

    private Answer delete(String path, String... headers) {
        ProxyRequest.Builder b = ProxyRequest.builder("DELETE", path);
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return send(engine, b);
    }

    private Answer asAdmin(String path) {
        return delete(path, "Authorization", "Bearer " + TOKEN);
    }

    private int aliceFetches(StoredImage image) {
        return send(
                        engine,
                        EngineFixture.get("/images/files/" + image.id() + ".png")
                                .user(ALICE))
                .status();
    }

    @Test
    void anAdminDeletesAnyonesImageAndTheDeletionIsAudited() {
        start(true);
        StoredImage image = alicesImage();
        assertThat(aliceFetches(image)).isEqualTo(200);

        Answer a = asAdmin("/admin/images/" + image.id());
        assertThat(a.status()).isEqualTo(200);
        JsonNode body = a.json();
        assertThat(body.get("id").asText()).isEqualTo(image.id());
        assertThat(body.get("object").asText()).isEqualTo("image");
        assertThat(body.get("deleted").asBoolean()).isTrue();
        assertThat(aliceFetches(image)).isEqualTo(404);
        assertThat(store.find(image.id())).isEmpty();

        AuditEntry entry = audit.recent(1).get(0);
        assertThat(entry.action()).isEqualTo("image.delete");
        assertThat(entry.keyId()).isEqualTo(image.id());
        assertThat(entry.actor()).startsWith("token:");
        JsonNode shown = send(engine, EngineFixture.get("/admin/audit").header("Authorization", "Bearer " + TOKEN))
                .json()
                .path("data")
                .get(0);
        assertThat(shown.get("action").asText()).isEqualTo("image.delete");
        assertThat(shown.get("imageId").asText()).isEqualTo(image.id());
        assertThat(shown.get("keyId").isNull()).isTrue();

        // gone: a second deletion is 404, and not audited
        Answer again = asAdmin("/admin/images/" + image.id());
        assertThat(again.proxyError(404).get("error").get("code").asText()).isEqualTo("image_not_found");
        assertThat(audit.recent(10)).hasSize(1);
    }

    @Test
    void theLinksFileNameWorksToo() {
        start(true);
        StoredImage image = alicesImage();
        Answer a = asAdmin("/admin/images/" + image.id() + ".png");
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.json().get("id").asText()).isEqualTo(image.id());
        assertThat(store.find(image.id())).isEmpty();
    }

    @Test
    void withoutAnAdminCredentialNothingIsDeleted() {
        start(true);
        StoredImage image = alicesImage();
        assertThat(delete("/admin/images/" + image.id()).status()).isEqualTo(401);
        assertThat(delete("/admin/images/" + image.id(), "Authorization", "Bearer wrong")
                        .status())
                .isEqualTo(401);
        // the image's own owner is no admin: she deletes it on /images/files, not here
        Answer owner = send(
                engine,
                ProxyRequest.builder("DELETE", "/admin/images/" + image.id()).user(ALICE));
        assertThat(owner.proxyError(403).get("error").get("code").asText()).isEqualTo("admin_role_required");
        assertThat(aliceFetches(image)).isEqualTo(200);
        assertThat(audit.recent(10)).isEmpty();

        // a user with the admin role may
        Answer admin = send(
                engine,
                ProxyRequest.builder("DELETE", "/admin/images/" + image.id())
                        .user(new AuthenticatedUser("root", Set.of("proxy-admin")::contains)));
        assertThat(admin.status()).isEqualTo(200);
        assertThat(audit.recent(1).get(0).actor()).isEqualTo("user:root");
    }

    @Test
    void unknownAndMalformedIdsAre404WithoutAnAuditEntryNeverA5xx() {
        start(true);
        for (String id : List.of(
                ImageIds.newId(),
                ImageIds.newId() + ".exe",
                "img_short",
                "..%2F..%2Fetc%2Fpasswd",
                "img_" + "A".repeat(10_000),
                "%00",
                "key_abc")) {
            Answer a = asAdmin("/admin/images/" + id);
            assertThat(a.status()).as(id).isEqualTo(404);
        }
        assertThat(audit.recent(10)).isEmpty();
    }

    @Test
    void aStoreThatFailsIs503AndNothingIsAudited() {
        AccessConfig access = AccessConfig.DEFAULTS.withAdmin(
                new AccessConfig.Admin(true, "/admin", List.of(ProxyKeys.hash(TOKEN)), null));
        ImageStore down = new ImageStore() {
            @Override
            public StoredImage put(String id, String contentType, String owner, InputStream bytes, long maxSize) {
                throw new ImageStoreException("database down");
            }

            @Override
            public Optional<StoredImage> find(String id) {
                throw new ImageStoreException("database down");
            }

            @Override
            public Optional<InputStream> open(String id, long offset, long length) {
                throw new ImageStoreException("database down");
            }

            @Override
            public boolean delete(String id) {
                throw new ImageStoreException("database down");
            }

            @Override
            public int deleteExpired(Instant before) {
                return 0;
            }
        };
        engine = ProxyEngine.builder(config(URI.create("http://127.0.0.1:9"))
                        .access(access)
                        .images(ImageConfig.DEFAULTS.withStore(ImageConfig.Store.FILESYSTEM))
                        .build())
                .imageStore(down)
                .auditLog(audit)
                .build();
        Answer a = asAdmin("/admin/images/" + ImageIds.newId());
        assertThat(a.proxyError(503).get("error").get("code").asText()).isEqualTo("image_store_unavailable");
        assertThat(a.text()).doesNotContain("database down");
        assertThat(audit.recent(10)).isEmpty();
    }

    @Test
    void withoutImageStorageEveryImageIsUnknown() {
        start(false);
        Answer a = asAdmin("/admin/images/" + ImageIds.newId());
        assertThat(a.proxyError(404).get("error").get("code").asText()).isEqualTo("image_not_found");
        assertThat(audit.recent(10)).isEmpty();
    }
}
