package io.github.openaiproxy.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.images.ImageConfig;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The images.* settings reach ImageConfig, from text and from the environment; bad values name their key. */
class ImageSettingsTest {
    @Test
    void defaultsStoreNothing() {
        ImageConfig c = ProxySettings.from(Map.of())
                .applyTo(ProxyConfig.builder())
                .build()
                .images();
        assertThat(c).isEqualTo(ImageConfig.DEFAULTS);
        assertThat(c.enabled()).isFalse();
        assertThat(c.fetchHosts()).containsExactly(ImageConfig.OPENAI_IMAGE_HOST);
        assertThat(c.directory()).isEqualTo(Path.of("./data/images"));
    }

    @Test
    void everySettingIsApplied() {
        ImageConfig c = ProxySettings.from(Map.of(
                        "images.store", "filesystem",
                        "images.directory", "/var/images",
                        "images.public-base-url", "https://example.com/ai",
                        "images.fetch-hosts", "a.example.com, b.example.com:8443",
                        "images.store-b64", "false",
                        "images.private", "false",
                        "images.retention", "30d",
                        "images.max-size", "5MB",
                        "images.fetch-timeout", "5s"))
                .applyTo(ProxyConfig.builder())
                .build()
                .images();
        assertThat(c.store()).isEqualTo(ImageConfig.Store.FILESYSTEM);
        assertThat(c.directory()).isEqualTo(Path.of("/var/images"));
        assertThat(c.publicBaseUrl()).isEqualTo(URI.create("https://example.com/ai"));
        assertThat(c.fetchHosts()).isEqualTo(List.of("a.example.com", "b.example.com:8443"));
        assertThat(c.storeB64()).isFalse();
        assertThat(c.privateImages()).isFalse();
        assertThat(c.retention()).isEqualTo(Duration.ofDays(30));
        assertThat(c.maxSize()).isEqualTo(5L * 1024 * 1024);
        assertThat(c.fetchTimeout()).isEqualTo(Duration.ofSeconds(5));
    }

    @Test
    void theEnvironmentSetsThemToo() {
        ImageConfig c = ProxySettings.fromEnvironment(
                        Map.of("OPENAI_PROXY_IMAGES_STORE", "jdbc", "OPENAI_PROXY_IMAGES_DIRECTORY", "/srv/img"))
                .applyTo(ProxyConfig.builder())
                .build()
                .images();
        assertThat(c.store()).isEqualTo(ImageConfig.Store.JDBC);
        assertThat(c.directory()).isEqualTo(Path.of("/srv/img"));
    }

    @Test
    void badValuesNameTheirKey() {
        assertThatThrownBy(
                        () -> ProxySettings.from(Map.of("images.store", "ftp")).applyTo(ProxyConfig.builder()))
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("images.store");
        assertThatThrownBy(() ->
                        ProxySettings.from(Map.of("images.retention", "-1s")).applyTo(ProxyConfig.builder()))
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("images.retention");
        assertThatThrownBy(() -> ProxySettings.from(Map.of("images.public-base-url", "ftp://x/"))
                        .applyTo(ProxyConfig.builder()))
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("images.public-base-url");
    }

    @Test
    void theS3SettingsReachTheS3Config() {
        ImageConfig c = ProxySettings.fromEnvironment(Map.of(
                        "OPENAI_PROXY_IMAGES_STORE", "s3",
                        "OPENAI_PROXY_IMAGES_S3_BUCKET", "my-images",
                        "OPENAI_PROXY_IMAGES_S3_REGION", "eu-west-3",
                        "OPENAI_PROXY_IMAGES_S3_ENDPOINT", "http://127.0.0.1:9000",
                        "OPENAI_PROXY_IMAGES_S3_PATH_STYLE", "true",
                        "OPENAI_PROXY_IMAGES_S3_PREFIX", "proxy/images/",
                        "OPENAI_PROXY_IMAGES_S3_PRESIGN", "10m"))
                .applyTo(ProxyConfig.builder())
                .build()
                .images();
        assertThat(c.store()).isEqualTo(ImageConfig.Store.S3);
        assertThat(c.s3())
                .isEqualTo(new io.github.openaiproxy.core.images.S3Config(
                        "my-images",
                        "eu-west-3",
                        java.net.URI.create("http://127.0.0.1:9000"),
                        true,
                        "proxy/images/",
                        java.time.Duration.ofMinutes(10)));
        assertThat(ImageConfig.DEFAULTS.s3()).isEqualTo(io.github.openaiproxy.core.images.S3Config.DEFAULTS);
        assertThatThrownBy(() ->
                        ProxySettings.from(Map.of("images.s3.prefix", "../up")).applyTo(ProxyConfig.builder()))
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("images.s3.prefix");
        assertThatThrownBy(() ->
                        ProxySettings.from(Map.of("images.s3.presign", "30d")).applyTo(ProxyConfig.builder()))
                .isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("images.s3.presign");
    }

    @Test
    void s3WithoutABucketFailsAtStartUpNamingIt() {
        ProxyConfig config = ProxySettings.from(Map.of("images.store", "s3"))
                .applyTo(ProxyConfig.builder())
                .build();
        assertThatThrownBy(() -> io.github.openaiproxy.core.ProxyEngine.create(config))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("images.s3.bucket");
    }
}
