package io.github.openaiproxy.spring.ledger;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.usage.TokenUsage;
import io.github.openaiproxy.core.usage.UsageLedger;
import io.github.openaiproxy.core.usage.UsageRecord;
import io.github.openaiproxy.core.usage.ledger.BatchingUsageLedger;
import io.github.openaiproxy.core.usage.ledger.InMemoryUsageLedger;
import io.github.openaiproxy.core.usage.ledger.LedgerConfig;
import io.github.openaiproxy.core.usage.ledger.UsageQuery;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.metrics.OpenAiProxyMetricsAutoConfiguration;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.util.UUID;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/** openai.proxy.ledger.*: none by default; memory; jdbc on the application's DataSource, flushed on close. */
class OpenAiProxyLedgerAutoConfigurationTests {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(
                    OpenAiProxyAutoConfiguration.class, OpenAiProxyLedgerAutoConfiguration.class));

    static UsageRecord row(String key) {
        return new UsageRecord(
                Instant.now().minusSeconds(60),
                "PROXY_KEY",
                key,
                key,
                null,
                "keys",
                "/v1/chat/completions",
                "gpt-4o",
                "gpt-4o",
                "default",
                200,
                200,
                new TokenUsage(10, 0, 5, 0, 0),
                100,
                false,
                false,
                UsageRecord.Outcome.COMPLETED,
                1,
                -1,
                null);
    }

    @Test
    void noneByDefault() {
        runner.run(context -> {
            assertThat(context).doesNotHaveBean(UsageLedger.class);
            ProxyEngine engine = context.getBean(ProxyEngine.class);
            assertThat(engine.usageLedger()).isSameAs(UsageLedger.NONE);
            assertThat(engine.usageQueries()).isEmpty();
        });
    }

    @Test
    void memoryAndEveryPropertyReachesCore() {
        runner.withPropertyValues(
                        "openai.proxy.ledger.store=memory",
                        "openai.proxy.ledger.retention=30d",
                        "openai.proxy.ledger.queue-size=123",
                        "openai.proxy.ledger.batch-size=45",
                        "openai.proxy.ledger.flush-interval=250ms",
                        "openai.proxy.ledger.query-timeout=7s")
                .run(context -> {
                    ProxyEngine engine = context.getBean(ProxyEngine.class);
                    LedgerConfig c = engine.config().ledger();
                    assertThat(c.store()).isEqualTo(LedgerConfig.Store.MEMORY);
                    assertThat(c.retention()).isEqualTo(Duration.ofDays(30));
                    assertThat(c.queueSize()).isEqualTo(123);
                    assertThat(c.batchSize()).isEqualTo(45);
                    assertThat(c.flushInterval()).isEqualTo(Duration.ofMillis(250));
                    assertThat(c.queryTimeout()).isEqualTo(Duration.ofSeconds(7));
                    assertThat(engine.usageLedger())
                            .isInstanceOf(InMemoryUsageLedger.class)
                            .isSameAs(context.getBean(UsageLedger.class));
                });
    }

    @Test
    void aBadValueFailsStartUpNamingTheProperty() {
        runner.withPropertyValues("openai.proxy.ledger.store=memory", "openai.proxy.ledger.batch-size=0")
                .run(context ->
                        assertThat(context).getFailure().hasStackTraceContaining("openai.proxy.ledger.batch-size"));
    }

    @Test
    void jdbcIsOnTheApplicationsDataSourceAndWrittenWhenTheContextCloses() throws Exception {
        JdbcDataSource h2 = new JdbcDataSource();
        h2.setURL("jdbc:h2:mem:ledger-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        h2.setUser("sa");
        runner.withBean(DataSource.class, () -> h2)
                .withPropertyValues("openai.proxy.ledger.store=jdbc", "openai.proxy.ledger.flush-interval=1h")
                .run(context -> {
                    ProxyEngine engine = context.getBean(ProxyEngine.class);
                    assertThat(engine.usageLedger()).isInstanceOf(BatchingUsageLedger.class);
                    for (int i = 0; i < 7; i++) {
                        engine.usageLedger().record(row("key_spring"));
                    }
                    assertThat(engine.usageQueries()).isPresent();
                });
        // the context closed the engine, which wrote what was queued
        try (Connection c = h2.getConnection();
                ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM openai_proxy_usage")) {
            rs.next();
            assertThat(rs.getLong(1)).isEqualTo(7);
        }
    }

    @Test
    void jdbcWithoutADataSourceFailsNamingTheProperty() {
        runner.withPropertyValues("openai.proxy.ledger.store=jdbc")
                .run(context -> assertThat(context)
                        .getFailure()
                        .hasStackTraceContaining("openai.proxy.ledger.store")
                        .hasStackTraceContaining("DataSource"));
    }

    /** openai.proxy.ledger.dropped counts the records a full queue dropped. */
    @Test
    void theDroppedRecordsAreAMetric() {
        JdbcDataSource h2 = new JdbcDataSource();
        h2.setURL("jdbc:h2:mem:ledgerm-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        h2.setUser("sa");
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(
                        OpenAiProxyAutoConfiguration.class,
                        OpenAiProxyLedgerAutoConfiguration.class,
                        OpenAiProxyMetricsAutoConfiguration.class))
                .withBean(MeterRegistry.class, SimpleMeterRegistry::new)
                .withBean(DataSource.class, () -> h2)
                .withPropertyValues("openai.proxy.ledger.store=jdbc", "openai.proxy.ledger.queue-size=1")
                .run(context -> {
                    MeterRegistry registry = context.getBean(MeterRegistry.class);
                    context.getBean(io.micrometer.core.instrument.binder.MeterBinder.class)
                            .bindTo(registry); // the binder Spring Boot's metrics would bind
                    BatchingUsageLedger ledger = (BatchingUsageLedger) context.getBean(UsageLedger.class);
                    for (int i = 0; i < 1000; i++) {
                        ledger.record(row("key_m"));
                    }
                    assertThat(ledger.dropped()).isPositive();
                    assertThat(registry.get(OpenAiProxyMetricsAutoConfiguration.LEDGER_DROPPED)
                                    .functionCounter()
                                    .count())
                            .isEqualTo((double) ledger.dropped());
                    assertThat(context.getBean(ProxyEngine.class)
                                    .usageQueries()
                                    .orElseThrow()
                                    .summarize(UsageQuery.of(
                                            Instant.now().minusSeconds(3600), Instant.now(), UsageQuery.By.KEY)))
                            .isNotNull();
                });
    }
}
