package io.github.openaiproxy.spring.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.session.SessionStore;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.StartupFailures;
import io.github.openaiproxy.spring.TestBodies;
import io.github.openaiproxy.testkit.ManualClock;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration;
import org.springframework.boot.jdbc.autoconfigure.DataSourceInitializationAutoConfiguration;
import org.springframework.boot.test.context.assertj.AssertableApplicationContext;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.ConfigurableApplicationContext;

class OpenAiProxySessionsAutoConfigurationTests {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(
                    OpenAiProxyAutoConfiguration.class, OpenAiProxySessionsAutoConfiguration.class));

    /** A private in-memory H2 database that lives as long as the JVM (each test gets its own). */
    static JdbcDataSource h2() {
        JdbcDataSource ds = new JdbcDataSource();
        ds.setURL("jdbc:h2:mem:sessions-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        ds.setUser("sa");
        return ds;
    }

    @Test
    void withoutADataSourceSessionsAreKeptInMemoryAndTheEngineUsesThatStore() {
        runner.run(context -> {
            SessionStore store = context.getBean(SessionStore.class);
            assertThat(store.blocking()).as("the in-memory store").isFalse();
            String id = createSession(context);
            assertThat(store.exists(id)).isTrue();
        });
    }

    @Test
    void withADataSourceSessionsGoToTheDatabaseWhoseTablesAreCreatedAtStartUp() {
        JdbcDataSource h2 = h2();
        runner.withBean(DataSource.class, () -> h2).run(context -> {
            assertThat(context).hasSingleBean(SessionStore.class);
            assertThat(context.getBean(SessionStore.class).blocking())
                    .as("the JDBC store")
                    .isTrue();
            assertThat(tables(h2)).contains("OPENAI_PROXY_SESSIONS", "OPENAI_PROXY_MESSAGES");

            String id = createSession(context);
            assertThat(count(h2, "SELECT COUNT(*) FROM openai_proxy_sessions WHERE id = '" + id + "'"))
                    .isEqualTo(1);
            JsonNode messages = JSON.readTree(TestBodies.text(
                    context.getBean(ProxyEngine.class),
                    ProxyRequest.builder("GET", "/sessions/" + id + "/messages").build()));
            assertThat(messages.path("sessionId").asText()).isEqualTo(id);
            assertThat(messages.path("messages")).isEmpty();
        });
    }

    @Test
    void springBootsDataSourceIsUsedAfterTheApplicationsSchemaScripts() {
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(
                        DataSourceAutoConfiguration.class,
                        DataSourceInitializationAutoConfiguration.class,
                        OpenAiProxyAutoConfiguration.class,
                        OpenAiProxySessionsAutoConfiguration.class))
                .withPropertyValues("spring.sql.init.schema-locations=classpath:db/drop-session-tables.sql")
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    DataSource dataSource = context.getBean(DataSource.class);
                    assertThat(tables(dataSource))
                            .contains("APPLICATION_THINGS", "OPENAI_PROXY_SESSIONS", "OPENAI_PROXY_MESSAGES");
                    assertThat(context.getBean(SessionStore.class).blocking()).isTrue();
                    String id = createSession(context);
                    assertThat(count(dataSource, "SELECT COUNT(*) FROM openai_proxy_sessions WHERE id = '" + id + "'"))
                            .isEqualTo(1);
                });
    }

    @Test
    void storeJdbcIsTheSameAsAutoWithADataSource() {
        JdbcDataSource h2 = h2();
        runner.withBean(DataSource.class, () -> h2)
                .withPropertyValues("openai.proxy.sessions.store=jdbc")
                .run(context -> {
                    assertThat(context.getBean(SessionStore.class).blocking()).isTrue();
                    assertThat(tables(h2)).contains("OPENAI_PROXY_SESSIONS");
                });
    }

    @Test
    void storeMemoryLeavesTheDatabaseAlone() {
        JdbcDataSource h2 = h2();
        runner.withBean(DataSource.class, () -> h2)
                .withPropertyValues("openai.proxy.sessions.store=MEMORY")
                .run(context -> {
                    assertThat(context.getBean(SessionStore.class).blocking()).isFalse();
                    assertThat(tables(h2)).noneMatch(t -> t.startsWith("OPENAI_PROXY"));
                });
    }

    @Test
    void severalDataSourcesWithoutAPrimaryOneMeanMemoryUnlessJdbcIsAskedFor() {
        runner.withBean("first", DataSource.class, OpenAiProxySessionsAutoConfigurationTests::h2)
                .withBean("second", DataSource.class, OpenAiProxySessionsAutoConfigurationTests::h2)
                .run(context -> assertThat(context.getBean(SessionStore.class).blocking())
                        .isFalse());

        JdbcDataSource primary = h2();
        runner.withBean("first", DataSource.class, OpenAiProxySessionsAutoConfigurationTests::h2)
                .withBean("second", DataSource.class, () -> primary, d -> d.setPrimary(true))
                .run(context -> {
                    assertThat(context.getBean(SessionStore.class).blocking()).isTrue();
                    assertThat(tables(primary)).contains("OPENAI_PROXY_SESSIONS");
                });
    }

    @Test
    void theApplicationsOwnStoreWins() {
        SessionStore mine = SessionStore.inMemory();
        runner.withBean(DataSource.class, OpenAiProxySessionsAutoConfigurationTests::h2)
                .withBean("mine", SessionStore.class, () -> mine)
                .run(context -> {
                    assertThat(context).hasSingleBean(SessionStore.class);
                    assertThat(context.getBean(SessionStore.class)).isSameAs(mine);
                    String id = createSession(context);
                    assertThat(mine.exists(id)).isTrue();
                });
    }

    @Test
    void disabledSessionsHaveNoRoutesAndNoStore() {
        JdbcDataSource h2 = h2();
        runner.withBean(DataSource.class, () -> h2)
                .withPropertyValues("openai.proxy.sessions.enabled=false")
                .run(context -> {
                    assertThat(context).doesNotHaveBean(SessionStore.class);
                    ProxyEngine engine = context.getBean(ProxyEngine.class);
                    assertThat(engine.config().sessions().enabled()).isFalse();
                    assertThat(engine.hasRoute("/sessions")).isFalse();
                    assertThat(tables(h2)).noneMatch(t -> t.startsWith("OPENAI_PROXY"));
                });
    }

    @Test
    void mapsTheSessionSettings() {
        runner.withPropertyValues(
                        "openai.proxy.sessions.history-as-context=true", "openai.proxy.sessions.context-messages=20")
                .run(context -> {
                    ProxyConfig config = context.getBean(ProxyConfig.class);
                    assertThat(config.sessions().enabled()).isTrue();
                    assertThat(config.sessions().historyAsContext()).isTrue();
                    assertThat(config.sessions().contextMessages()).isEqualTo(20);
                });
    }

    /** The retention runs on the application's Clock bean: the test moves it, so every assertion runs. */
    @ParameterizedTest
    @ValueSource(strings = {"jdbc", "memory"})
    void aSessionWithoutNewMessagesForTheRetentionIsGone(String store) {
        ManualClock clock = new ManualClock();
        runner.withBean(DataSource.class, OpenAiProxySessionsAutoConfigurationTests::h2)
                .withBean(Clock.class, () -> clock)
                .withPropertyValues("openai.proxy.sessions.store=" + store, "openai.proxy.sessions.retention=1s")
                .run(context -> {
                    SessionStore sessions = context.getBean(SessionStore.class);
                    assertThat(sessions.blocking()).isEqualTo(store.equals("jdbc"));
                    String id = createSession(context);
                    clock.advance(Duration.ofMillis(500));
                    assertThat(sessions.exists(id)).isTrue();
                    // 1.5 s after the last message (JDBC), 1 s after the last use (memory): gone for both.
                    clock.advance(Duration.ofMillis(1_001));
                    assertThat(sessions.exists(id)).isFalse();
                });
    }

    @Test
    void aRetentionWithoutUnitIsInSecondsAsEveryOtherDuration() {
        runner.withPropertyValues("openai.proxy.sessions.retention=90")
                .run(context -> assertThat(context.getBean(io.github.openaiproxy.spring.OpenAiProxyProperties.class)
                                .getSessions()
                                .getRetention())
                        .isEqualTo(Duration.ofSeconds(90)));
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "openai.proxy.sessions.context-messages=0    | openai.proxy.sessions.context-messages",
                "openai.proxy.sessions.context-messages=many | openai.proxy.sessions.context-messages",
                "openai.proxy.sessions.queue-size=0          | openai.proxy.sessions.queue-size",
                "openai.proxy.sessions.max-message-size=3GB  | openai.proxy.sessions.max-message-size",
                "openai.proxy.sessions.max-session-size=0B   | openai.proxy.sessions.max-session-size",
                "openai.proxy.sessions.store=redis           | openai.proxy.sessions.store",
                "openai.proxy.sessions.store=jdbc            | openai.proxy.sessions.store",
                "openai.proxy.sessions.enabled=maybe         | openai.proxy.sessions.enabled",
                "openai.proxy.sessions.retention=0s          | openai.proxy.sessions.retention",
                "openai.proxy.sessions.retention=soon        | openai.proxy.sessions.retention",
            })
    void badSettingsFailStartUpNamingTheProperty(String setting, String property) {
        // No DataSource: 'jdbc' cannot be satisfied.
        runner.withPropertyValues(setting).run(context -> {
            assertThat(context).hasFailed();
            // Spring Boot's failure report names the property of the first of these that has one.
            assertThat(StartupFailures.messages(context.getStartupFailure())).contains("'" + property + "'");
        });
    }

    @Test
    void aStoreThatCannotCreateItsTablesFailsStartUpSayingWhatToDo() {
        JdbcDataSource readOnly = h2();
        readOnly.setURL(readOnly.getURL() + ";ACCESS_MODE_DATA=r");
        runner.withBean(DataSource.class, () -> readOnly).run(context -> {
            assertThat(context).hasFailed();
            assertThat(context.getStartupFailure())
                    .hasMessageContaining("session tables")
                    .hasMessageContaining("openai.proxy.sessions.store=memory");
        });
    }

    @Test
    void theThreadsOfTheJdbcStoreStopWithTheContext() {
        Set<Thread> before = sessionThreads();
        Set<Thread> started = new java.util.HashSet<>();
        ConfigurableApplicationContext[] closed = new ConfigurableApplicationContext[1];
        runner.withBean(DataSource.class, OpenAiProxySessionsAutoConfigurationTests::h2)
                .run(context -> {
                    createSession(context); // runs on the engine's session threads
                    started.addAll(sessionThreads());
                    started.removeAll(before);
                    assertThat(started).as("threads of this context's engine").isNotEmpty();
                    closed[0] = context.getSourceApplicationContext();
                });
        // The runner has closed the context, and with it the engine, which shut its session threads down.
        assertThat(closed[0].isActive()).isFalse();
        await().atMost(Duration.ofSeconds(30))
                .untilAsserted(() -> assertThat(started).noneMatch(Thread::isAlive));
    }

    private static Set<Thread> sessionThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("openai-proxy-sessions-") && t.isAlive())
                .collect(Collectors.toSet());
    }

    private static String createSession(AssertableApplicationContext context) throws Exception {
        JsonNode created = JSON.readTree(TestBodies.text(
                context.getBean(ProxyEngine.class),
                ProxyRequest.builder("POST", "/sessions").build()));
        assertThat(created.path("success").asBoolean()).as(created.toString()).isTrue();
        return created.path("sessionId").asText();
    }

    private static Set<String> tables(DataSource ds) throws Exception {
        try (Connection c = ds.getConnection();
                ResultSet rs = c.getMetaData().getTables(null, null, "%", new String[] {"TABLE"})) {
            Set<String> names = new java.util.TreeSet<>();
            while (rs.next()) {
                names.add(rs.getString("TABLE_NAME"));
            }
            return names;
        }
    }

    private static long count(DataSource ds, String sql) throws Exception {
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
