package io.github.openaiproxy.spring.images;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.images.ImageStore;
import io.github.openaiproxy.core.images.ImageStoreException;
import io.github.openaiproxy.core.images.JdbcImageStore;
import io.github.openaiproxy.spring.OpenAiProxyProperties;
import java.time.Clock;
import javax.sql.DataSource;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.boot.sql.init.dependency.DependsOnDatabaseInitialization;
import org.springframework.context.annotation.Bean;

/**
 * The image store on the application's {@link DataSource} when {@code openai.proxy.images.store=jdbc} (table
 * {@code openai_proxy_images}, created at start-up). With {@code filesystem} the engine makes its own store in
 * {@code openai.proxy.images.directory}, with {@code s3} in the bucket of {@code openai.proxy.images.s3.*} (the
 * application adds the AWS SDK's {@code s3} and {@code url-connection-client}); an {@link ImageStore} bean of the
 * application replaces any of them.
 */
@AutoConfiguration(before = io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration.class)
@ConditionalOnClass(ProxyEngine.class)
@ConditionalOnBooleanProperty(name = "openai.proxy.enabled", matchIfMissing = true)
@ConditionalOnProperty(name = "openai.proxy.images.store", havingValue = "jdbc")
@EnableConfigurationProperties(OpenAiProxyProperties.class)
public final class OpenAiProxyImagesAutoConfiguration {
    private static final Log LOG = LogFactory.getLog(OpenAiProxyImagesAutoConfiguration.class);

    /** The JDBC image store, built after the application's own database initialization. */
    @Bean
    @ConditionalOnMissingBean
    @DependsOnDatabaseInitialization
    ImageStore openAiProxyImageStore(ObjectProvider<DataSource> dataSources, ObjectProvider<Clock> clocks) {
        DataSource dataSource = dataSources.getIfUnique();
        if (dataSource == null) {
            throw new InvalidConfigurationPropertyValueException(
                    "openai.proxy.images.store",
                    "jdbc",
                    "the application has no DataSource bean (or several and none is @Primary): configure"
                            + " spring.datasource.url, or define an ImageStore bean");
        }
        try {
            ImageStore store = JdbcImageStore.create(
                    dataSource, JdbcImageStore.DEFAULT_PREFIX, clocks.getIfUnique(Clock::systemUTC));
            LOG.info(
                    "openai-proxy generated images stored in the application's DataSource (table openai_proxy_images)");
            return store;
        } catch (ImageStoreException e) {
            throw new IllegalStateException(
                    "openai.proxy.images: could not create or migrate the image table in the application's"
                            + " DataSource (" + e.getMessage() + ")",
                    e);
        }
    }
}
