package io.github.openaiproxy.spring.images;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.images.ImageConfig;
import io.github.openaiproxy.core.images.ImageIds;
import io.github.openaiproxy.core.images.ImageStore;
import io.github.openaiproxy.core.images.JdbcImageStore;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import java.io.ByteArrayInputStream;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/** openai.proxy.images.*: off by default; filesystem in its directory; jdbc on the application's DataSource. */
class OpenAiProxyImagesAutoConfigurationTests {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(
                    OpenAiProxyAutoConfiguration.class, OpenAiProxyImagesAutoConfiguration.class));

    @TempDir
    Path directory;

    @Test
    void offByDefault() {
        runner.run(context -> {
            assertThat(context).doesNotHaveBean(ImageStore.class);
            assertThat(context.getBean(ProxyEngine.class).config().images().enabled())
                    .isFalse();
            assertThat(context.getBean(ProxyEngine.class).hasRoute("/images/files/x.png"))
                    .isFalse();
        });
    }

    @Test
    void theFilesystemStoreUsesItsDirectoryAndEveryPropertyReachesCore() {
        runner.withPropertyValues(
                        "openai.proxy.images.store=filesystem",
                        "openai.proxy.images.directory=" + directory,
                        "openai.proxy.images.private=false",
                        "openai.proxy.images.retention=7d",
                        "openai.proxy.images.max-size=2MB")
                .run(context -> {
                    ImageConfig c = context.getBean(ProxyEngine.class).config().images();
                    assertThat(c.store()).isEqualTo(ImageConfig.Store.FILESYSTEM);
                    assertThat(c.directory()).isEqualTo(directory);
                    assertThat(c.privateImages()).isFalse();
                    assertThat(c.retention()).hasDays(7);
                    assertThat(c.maxSize()).isEqualTo(2L * 1024 * 1024);
                    assertThat(context.getBean(ProxyEngine.class).hasRoute("/images/files/x.png"))
                            .isTrue();
                });
    }

    @Test
    void theJdbcStoreIsOnTheApplicationsDataSourceAndServesItsImages() {
        JdbcDataSource h2 = new JdbcDataSource();
        h2.setURL("jdbc:h2:mem:images-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        h2.setUser("sa");
        runner.withBean(DataSource.class, () -> h2)
                .withPropertyValues("openai.proxy.images.store=jdbc")
                .run(context -> {
                    assertThat(context.getBean(ImageStore.class)).isInstanceOf(JdbcImageStore.class);
                    String id = ImageIds.newId();
                    byte[] png = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3};
                    context.getBean(ImageStore.class).put(id, "image/png", null, new ByteArrayInputStream(png), 100);
                    int status = context.getBean(ProxyEngine.class)
                            .handle(ProxyRequest.builder("GET", "/images/files/" + id + ".png")
                                    .build())
                            .get(10, TimeUnit.SECONDS)
                            .status();
                    assertThat(status).isEqualTo(200);
                    try (Connection c = h2.getConnection();
                            ResultSet rs =
                                    c.createStatement().executeQuery("SELECT COUNT(*) FROM openai_proxy_images")) {
                        rs.next();
                        assertThat(rs.getInt(1)).isEqualTo(1);
                    }
                });
    }

    @Test
    void jdbcWithoutADataSourceFailsAtStartUpNamingTheProperty() {
        runner.withPropertyValues("openai.proxy.images.store=jdbc")
                .run(context -> assertThat(context).getFailure().hasStackTraceContaining("openai.proxy.images.store"));
    }

    @Test
    void s3PropertiesReachCoreAndAMissingSdkFailsAtStartUpNamingTheSetting() {
        // The starter does not bring the AWS SDK (core has it as optional): this class path has none.
        assertThat(getClass().getClassLoader().getResource("software/amazon/awssdk/services/s3/S3Client.class"))
                .isNull();
        runner.withPropertyValues(
                        "openai.proxy.images.store=s3",
                        "openai.proxy.images.s3.bucket=my-images",
                        "openai.proxy.images.s3.region=eu-central-1",
                        "openai.proxy.images.s3.endpoint=http://127.0.0.1:9000",
                        "openai.proxy.images.s3.path-style=true",
                        "openai.proxy.images.s3.prefix=proxy/",
                        "openai.proxy.images.s3.presign=15m")
                .run(context -> assertThat(context)
                        .getFailure()
                        .hasStackTraceContaining("images.store=s3 needs the AWS SDK for Java v2 on the class path")
                        .hasStackTraceContaining("software.amazon.awssdk:s3"));
        // The same properties with an application's store: every one reaches core's configuration.
        ImageStore own = io.github.openaiproxy.core.images.FilesystemImageStore.create(directory);
        runner.withBean(ImageStore.class, () -> own)
                .withPropertyValues(
                        "openai.proxy.images.store=s3",
                        "openai.proxy.images.s3.bucket=my-images",
                        "openai.proxy.images.s3.region=eu-central-1",
                        "openai.proxy.images.s3.endpoint=http://127.0.0.1:9000",
                        "openai.proxy.images.s3.path-style=true",
                        "openai.proxy.images.s3.prefix=proxy/",
                        "openai.proxy.images.s3.presign=15m")
                .run(context -> {
                    var s3 =
                            context.getBean(ProxyEngine.class).config().images().s3();
                    assertThat(s3.bucket()).isEqualTo("my-images");
                    assertThat(s3.region()).isEqualTo("eu-central-1");
                    assertThat(s3.endpoint()).hasToString("http://127.0.0.1:9000");
                    assertThat(s3.pathStyle()).isTrue();
                    assertThat(s3.prefix()).isEqualTo("proxy/");
                    assertThat(s3.presign()).hasMinutes(15);
                });
    }
}
