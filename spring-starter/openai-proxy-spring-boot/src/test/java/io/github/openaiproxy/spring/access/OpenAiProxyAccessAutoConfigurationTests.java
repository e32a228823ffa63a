package io.github.openaiproxy.spring.access;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.access.AuditLog;
import io.github.openaiproxy.core.access.InMemoryPolicyStore;
import io.github.openaiproxy.core.access.InMemoryProxyKeyStore;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.PolicyStore;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeyStore;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.access.jdbc.JdbcAuditLog;
import io.github.openaiproxy.core.access.jdbc.JdbcPolicyStore;
import io.github.openaiproxy.core.access.jdbc.JdbcProxyKeyStore;
import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.spring.OpenAiProxyAutoConfiguration;
import io.github.openaiproxy.spring.StartupFailures;
import io.github.openaiproxy.spring.TestBodies;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Instant;
import java.util.HashSet;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/** Where keys, managed policies and the audit log are kept, and that an application's own beans replace them. */
class OpenAiProxyAccessAutoConfigurationTests {
    private static final String ADMIN_TOKEN = "admin-token-for-the-test";

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(
                    OpenAiProxyAutoConfiguration.class, OpenAiProxyAccessAutoConfiguration.class));

    static JdbcDataSource h2() {
        JdbcDataSource ds = new JdbcDataSource();
        ds.setURL("jdbc:h2:mem:access-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        ds.setUser("sa");
        return ds;
    }

    @Test
    void withoutADataSourceEverythingIsKeptInMemory() {
        runner.run(context -> {
            assertThat(context.getBean(ProxyKeyStore.class)).isInstanceOf(InMemoryProxyKeyStore.class);
            assertThat(context.getBean(PolicyStore.class)).isInstanceOf(InMemoryPolicyStore.class);
            assertThat(context).hasSingleBean(AuditLog.class);
        });
    }

    @Test
    void withADataSourceKeysPoliciesAndTheAuditLogAreInItsTables() {
        JdbcDataSource h2 = h2();
        runner.withBean(DataSource.class, () -> h2).run(context -> {
            assertThat(context.getBean(ProxyKeyStore.class)).isInstanceOf(JdbcProxyKeyStore.class);
            assertThat(context.getBean(PolicyStore.class)).isInstanceOf(JdbcPolicyStore.class);
            assertThat(context.getBean(AuditLog.class)).isInstanceOf(JdbcAuditLog.class);
            assertThat(tables(h2))
                    .contains("OPENAI_PROXY_PROXY_KEYS", "OPENAI_PROXY_POLICIES", "OPENAI_PROXY_AUDIT_LOG");
        });
    }

    @Test
    void storeMemoryLeavesTheDatabaseAlone() {
        JdbcDataSource h2 = h2();
        runner.withBean(DataSource.class, () -> h2)
                .withPropertyValues("openai.proxy.sessions.store=memory")
                .run(context -> {
                    assertThat(context.getBean(ProxyKeyStore.class)).isInstanceOf(InMemoryProxyKeyStore.class);
                    assertThat(context.getBean(PolicyStore.class)).isInstanceOf(InMemoryPolicyStore.class);
                    assertThat(tables(h2)).noneMatch(t -> t.startsWith("OPENAI_PROXY"));
                });
    }

    @Test
    void storeJdbcWithoutADataSourceFailsStartUpNamingTheProperty() {
        runner.withPropertyValues("openai.proxy.sessions.store=jdbc").run(context -> {
            assertThat(context).hasFailed();
            assertThat(StartupFailures.messages(context.getStartupFailure())).contains("openai.proxy.sessions.store");
        });
    }

    @Test
    void theApplicationsOwnKeyStoreReplacesTheDefaultAndTheEngineUsesIt() {
        ProxyKeyStore mine = new InMemoryProxyKeyStore();
        ProxyKeys.NewKey key = ProxyKeys.generate();
        mine.insert(new ProxyKey(
                "k1",
                key.displayPrefix(),
                key.hash(),
                "from-my-store",
                null,
                Policy.KEYS,
                Instant.now(),
                null,
                null,
                null));
        runner.withBean(DataSource.class, OpenAiProxyAccessAutoConfigurationTests::h2)
                .withBean("mine", ProxyKeyStore.class, () -> mine)
                .withPropertyValues(
                        "openai.proxy.access.anonymous=deny",
                        "openai.proxy.admin.enabled=true",
                        "openai.proxy.admin.tokens=" + ProxyKeys.hash(ADMIN_TOKEN))
                .run(context -> {
                    assertThat(context).hasSingleBean(ProxyKeyStore.class);
                    assertThat(context.getBean(ProxyKeyStore.class)).isSameAs(mine);
                    ProxyEngine engine = context.getBean(ProxyEngine.class);
                    assertThat(TestBodies.text(engine, admin("GET", "/admin/keys", null)))
                            .contains("from-my-store");
                    // Requests are identified by the keys in it.
                    assertThat(status(engine, ProxyRequest.builder("POST", "/sessions")))
                            .isEqualTo(401);
                    assertThat(status(
                                    engine,
                                    ProxyRequest.builder("POST", "/sessions")
                                            .header("Authorization", "Bearer " + key.secret())))
                            .isEqualTo(201);
                });
    }

    @Test
    void theApplicationsIdentitySourceBeansAreAskedBeforeTheBuiltInOnes() {
        io.github.openaiproxy.core.access.IdentitySource gateway =
                request -> java.util.concurrent.CompletableFuture.completedFuture(request.header("X-Gateway-User")
                        .map(name -> io.github.openaiproxy.core.access.Resolution.identified(
                                io.github.openaiproxy.core.access.Identity.user(name, Policy.USERS)))
                        .orElse(io.github.openaiproxy.core.access.Resolution.ABSENT));
        runner.withBean("gateway", io.github.openaiproxy.core.access.IdentitySource.class, () -> gateway)
                .withPropertyValues("openai.proxy.access.anonymous=deny")
                .run(context -> {
                    ProxyEngine engine = context.getBean(ProxyEngine.class);
                    assertThat(status(engine, ProxyRequest.builder("POST", "/sessions")))
                            .isEqualTo(401);
                    assertThat(status(
                                    engine,
                                    ProxyRequest.builder("POST", "/sessions").header("X-Gateway-User", "carol")))
                            .isEqualTo(201);
                });
    }

    @Test
    void theApplicationsOwnPolicyStoreAndAuditLogAreWhatTheAdminApiUses() throws Exception {
        PolicyStore policies = new InMemoryPolicyStore();
        policies.save(Policy.unrestricted("from-my-store"));
        AuditLog audit = AuditLog.inMemory();
        runner.withBean(DataSource.class, OpenAiProxyAccessAutoConfigurationTests::h2)
                .withBean("myPolicies", PolicyStore.class, () -> policies)
                .withBean("myAudit", AuditLog.class, () -> audit)
                .withPropertyValues(
                        "openai.proxy.admin.enabled=true", "openai.proxy.admin.tokens=" + ProxyKeys.hash(ADMIN_TOKEN))
                .run(context -> {
                    assertThat(context.getBean(PolicyStore.class)).isSameAs(policies);
                    assertThat(context.getBean(AuditLog.class)).isSameAs(audit);
                    ProxyEngine engine = context.getBean(ProxyEngine.class);
                    assertThat(TestBodies.text(engine, admin("GET", "/admin/policies", null)))
                            .contains("from-my-store");
                    assertThat(TestBodies.text(engine, admin("POST", "/admin/keys", "{\"name\":\"ci\"}")))
                            .contains("opk-");
                    assertThat(audit.recent(10)).isNotEmpty();
                });
    }

    /** A call to the admin API with the admin token. */
    private static ProxyRequest admin(String method, String path, String json) {
        ProxyRequest.Builder b = ProxyRequest.builder(method, path).header("Authorization", "Bearer " + ADMIN_TOKEN);
        if (json != null) {
            b.header("Content-Type", "application/json").body(json.getBytes(StandardCharsets.UTF_8));
        }
        return b.build();
    }

    private static int status(ProxyEngine engine, ProxyRequest.Builder request) throws Exception {
        ProxyResponse response = engine.handle(request.build()).get(30, TimeUnit.SECONDS);
        TestBodies.read(response);
        return response.status();
    }

    static Set<String> tables(DataSource dataSource) throws Exception {
        Set<String> names = new HashSet<>();
        try (Connection c = dataSource.getConnection();
                ResultSet rs = c.getMetaData().getTables(null, null, "%", new String[] {"TABLE"})) {
            while (rs.next()) {
                names.add(rs.getString("TABLE_NAME"));
            }
        }
        return names;
    }
}
