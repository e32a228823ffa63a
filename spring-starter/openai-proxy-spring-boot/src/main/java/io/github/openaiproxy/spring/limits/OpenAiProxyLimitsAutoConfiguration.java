package io.github.openaiproxy.spring.limits;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.limits.LimitStore;
import io.github.openaiproxy.core.limits.LimitStoreException;
import io.github.openaiproxy.core.limits.LimitStores;
import io.github.openaiproxy.core.limits.RedisLimitStore;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.OpenAiProxyProperties;
import io.github.openaiproxy.spring.StoreDataSource;
import javax.sql.DataSource;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.boot.sql.init.dependency.DependsOnDatabaseInitialization;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.data.redis.connection.RedisConnectionFactory;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;

/**
 * Where the policies' rate limits and budgets are counted ({@code openai.proxy.limits.store}), from what the
 * application has: {@code jdbc} counts in its {@link DataSource} (its single or primary one), {@code redis} in the
 * Redis of its Lettuce {@link RedisConnectionFactory} (the store opens a connection of its own on the factory's
 * client and leaves the client to the application), or at {@code openai.proxy.limits.redis-url} when that is set.
 * {@code memory}, the default, needs no bean: the engine makes it. An application's own {@link LimitStore} bean
 * replaces all of these.
 */
@AutoConfiguration(
        before = OpenAiProxyAutoConfiguration.class,
        afterName = {
            "org.springframework.boot.data.redis.autoconfigure.DataRedisAutoConfiguration",
            "org.springframework.boot.autoconfigure.data.redis.RedisAutoConfiguration"
        })
@ConditionalOnClass(ProxyEngine.class)
@ConditionalOnBooleanProperty(name = "openai.proxy.enabled", matchIfMissing = true)
@EnableConfigurationProperties(OpenAiProxyProperties.class)
public final class OpenAiProxyLimitsAutoConfiguration {
    static final String PROPERTY = "openai.proxy.limits.store";
    static final String REDIS_URL = "openai.proxy.limits.redis-url";
    private static final Log LOG = LogFactory.getLog(OpenAiProxyLimitsAutoConfiguration.class);

    /** {@code jdbc}: the application's DataSource, shared by every instance that uses it. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnProperty(name = PROPERTY, havingValue = "jdbc")
    static class Jdbc {
        @Bean
        @ConditionalOnMissingBean
        @DependsOnDatabaseInitialization
        LimitStore openAiProxyLimitStore(ProxyConfig config, ObjectProvider<DataSource> dataSources) {
            DataSource dataSource = StoreDataSource.required(PROPERTY, dataSources, "a LimitStore bean");
            LOG.info("openai-proxy limits counted in the application's DataSource (tables openai_proxy_limit_*)");
            return LimitStores.create(config.limits(), dataSource);
        }
    }

    /** {@code redis} with Spring Data Redis: the application's Lettuce connection factory, or the URL. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnProperty(name = PROPERTY, havingValue = "redis")
    @ConditionalOnClass(name = "org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory")
    static class RedisOfTheApplication {
        @Bean
        @ConditionalOnMissingBean
        LimitStore openAiProxyLimitStore(ProxyConfig config, ObjectProvider<RedisConnectionFactory> factories) {
            if (config.limits().redisUrl() != null) {
                return atTheUrl(config);
            }
            RedisConnectionFactory factory = factories.getIfUnique();
            if (!(factory instanceof LettuceConnectionFactory lettuce)) {
                throw new InvalidConfigurationPropertyValueException(
                        PROPERTY,
                        "redis",
                        factory == null
                                ? "the application has no RedisConnectionFactory: set " + REDIS_URL
                                : "the application's RedisConnectionFactory is not Lettuce's: set " + REDIS_URL);
            }
            if (lettuce.getNativeClient() == null) {
                lettuce.start(); // not started yet (early start-up off): its client is made on start
            }
            LOG.info("openai-proxy limits counted in the application's Redis (its LettuceConnectionFactory)");
            try {
                return RedisLimitStore.using(
                        lettuce.getRequiredNativeClient(), config.limits().storeTimeout());
            } catch (LimitStoreException e) {
                throw new InvalidConfigurationPropertyValueException(
                        PROPERTY,
                        "redis",
                        "the application's Redis (its LettuceConnectionFactory, spring.data.redis.*) refused the"
                                + " connection: " + reason(e));
            }
        }
    }

    /** {@code redis} without Spring Data Redis: {@code redis-url} is required. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnProperty(name = PROPERTY, havingValue = "redis")
    @ConditionalOnMissingClass("org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory")
    static class RedisAtTheUrl {
        @Bean
        @ConditionalOnMissingBean
        LimitStore openAiProxyLimitStore(ProxyConfig config) {
            if (config.limits().redisUrl() == null) {
                throw new InvalidConfigurationPropertyValueException(
                        PROPERTY, "redis", "set " + REDIS_URL + " (redis://host:6379)");
            }
            return atTheUrl(config);
        }
    }

    /**
     * The store at {@code redis-url}. A URI Lettuce refuses, or a Redis that refuses the connection (a wrong
     * password, a database it does not have), fails start-up naming the property, with the URI's password left out;
     * a Redis that cannot be reached now does not: the store connects in the background.
     */
    static LimitStore atTheUrl(ProxyConfig config) {
        String url = config.limits().redisUrl();
        try {
            return LimitStores.create(config.limits(), null);
        } catch (LimitStoreException | IllegalArgumentException e) {
            throw new InvalidConfigurationPropertyValueException(
                    REDIS_URL, RedisLimitStore.withoutPasswords(url), reason(e));
        }
    }

    /** The failure and its cause, for the start-up report. */
    private static String reason(RuntimeException e) {
        Throwable cause = e.getCause();
        return cause == null || cause.getMessage() == null
                ? e.getMessage()
                : e.getMessage() + ": " + cause.getMessage();
    }
}
