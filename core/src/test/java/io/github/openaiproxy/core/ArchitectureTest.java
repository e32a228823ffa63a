package io.github.openaiproxy.core;

import static com.tngtech.archunit.core.domain.JavaClass.Predicates.simpleName;
import static com.tngtech.archunit.core.domain.properties.CanBeAnnotated.Predicates.annotatedWith;
import static com.tngtech.archunit.core.domain.properties.HasName.Predicates.nameMatching;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import io.github.openaiproxy.core.internal.Internal;
import io.github.openaiproxy.core.session.ChatSessions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The core stays framework-free and its packages stay layered. */
class ArchitectureTest {
    private static final String CORE = "io.github.openaiproxy.core";
    /** The Redis limit store, nested classes included: the one class that uses the optional Lettuce. */
    private static final String REDIS_CLASS =
            java.util.regex.Pattern.quote(CORE + ".limits.RedisLimitStore") + "(\\$.*)?";
    /** The usage ledger's COPY writer, the one class that speaks the optional pgjdbc driver. */
    private static final String PG_COPY_CLASS =
            java.util.regex.Pattern.quote(CORE + ".usage.ledger.PostgresCopy") + "(\\$.*)?";
    /** The Jetty classes, nested ones included. */
    private static final String JETTY_CLASS = ".*\\.Jetty[^.]*";

    private static JavaClasses core;

    @BeforeAll
    static void importCore() {
        core = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages(CORE);
    }

    @Test
    void coreDependsOnNoWebFramework() {
        noClasses()
                .that()
                .resideInAPackage(CORE + "..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("jakarta.servlet..", "javax.servlet..", "org.springframework..", "graphql..")
                .check(core);
    }

    @Test
    void coreDependsOnlyOnTheJdkAndJackson() {
        // javax.sql is the JDK's DataSource, for the JDBC session store.
        classes()
                .that()
                .resideInAPackage(CORE + "..")
                .and()
                .haveNameNotMatching(JETTY_CLASS)
                .and()
                .haveNameNotMatching(REDIS_CLASS)
                .and()
                .resideOutsideOfPackage(CORE + ".observe.otel")
                .and()
                .haveNameNotMatching(S3_CLASS)
                .and()
                .haveNameNotMatching(PG_COPY_CLASS)
                .should()
                .onlyDependOnClassesThat()
                .resideInAnyPackage(
                        "java..",
                        "javax.sql..",
                        "com.fasterxml.jackson..",
                        "com.github.benmanes.caffeine..",
                        "com.nimbusds..",
                        "com.knuddels.jtokkit..",
                        CORE + "..")
                .check(core);
    }

    /** The S3 image store, the one class that speaks the AWS SDK (optional: only images.store=s3 loads it). */
    private static final String S3_CLASS = java.util.regex.Pattern.quote(CORE + ".images.S3ImageStore") + "(\\$.*)?";

    @Test
    void onlyTheS3StoreUsesTheAwsSdk() {
        noClasses()
                .that()
                .haveNameNotMatching(S3_CLASS)
                .should()
                .dependOnClassesThat()
                .resideInAPackage("software.amazon..")
                .check(core);
    }

    @Test
    void onlyTheTokenCounterUsesTheTokenizer() {
        // TokenCounter speaks jtokkit, with O200kPieces (its pre-tokenizer for o200k_base): the rest of core
        // counts tokens through TokenCounter.
        noClasses()
                .that()
                .haveNameNotMatching(
                        java.util.regex.Pattern.quote(CORE + ".usage.") + "(TokenCounter|O200kPieces)(\\$.*)?")
                .should()
                .dependOnClassesThat()
                .resideInAPackage("com.knuddels.jtokkit..")
                .check(core);
    }

    @Test
    void onlyTheOpenTelemetryObserverTouchesTheOptionalOpenTelemetryApi() {
        // opentelemetry-api is optional: one package speaks it, and nothing else in core reaches that package, so a
        // core without the API never links against it.
        noClasses()
                .that()
                .resideOutsideOfPackage(CORE + ".observe.otel")
                .should()
                .dependOnClassesThat()
                .resideInAPackage("io.opentelemetry..")
                .check(core);
        noClasses()
                .that()
                .resideOutsideOfPackage(CORE + ".observe.otel")
                .should()
                .dependOnClassesThat()
                .resideInAPackage(CORE + ".observe.otel")
                .check(core);
        classes()
                .that()
                .resideInAPackage(CORE + ".observe.otel")
                .should()
                .onlyDependOnClassesThat()
                .resideInAnyPackage("java..", "io.opentelemetry..", CORE + ".observe..")
                .check(core);
    }

    @Test
    void onlyTheJwtSourceUsesTheJoseLibrary() {
        // One class speaks nimbus-jose-jwt: the rest of core knows nothing of JOSE.
        noClasses()
                .that()
                .haveNameNotMatching(java.util.regex.Pattern.quote(CORE + ".access.JwtSource") + "(\\$.*)?")
                .should()
                .dependOnClassesThat()
                .resideInAPackage("com.nimbusds..")
                .check(core);
    }

    @Test
    void onlyTheJettyClassesTouchTheOptionalJettyDependency() {
        // jetty-client is optional: a class linking against it anywhere else breaks a core without it, so the
        // Jetty classes sit in one package and are reached only through UpstreamClient's factory methods.
        classes()
                .that()
                .haveNameMatching(JETTY_CLASS)
                .should()
                .resideInAPackage(CORE + ".upstream")
                .check(core);
        classes()
                .that()
                .haveNameMatching(JETTY_CLASS)
                .should()
                .onlyBeAccessed()
                .byClassesThat(simpleName("UpstreamClient").or(nameMatching(JETTY_CLASS)))
                .check(core);
        noClasses()
                .that()
                .haveNameNotMatching(JETTY_CLASS)
                .should()
                .dependOnClassesThat()
                .resideInAPackage("org.eclipse.jetty..")
                .check(core);
    }

    @Test
    void onlyPostgresCopyTouchesTheOptionalPostgresDriver() {
        // pgjdbc is optional: the ledger's JdbcUsageStore loads PostgresCopy only when the driver is present.
        noClasses()
                .that()
                .haveNameNotMatching(PG_COPY_CLASS)
                .should()
                .dependOnClassesThat()
                .resideInAPackage("org.postgresql..")
                .check(core);
    }

    @Test
    void onlyTheRedisLimitStoreTouchesTheOptionalLettuceDependency() {
        // lettuce-core is optional: a class linking against it anywhere else breaks a core without it.
        noClasses()
                .that()
                .haveNameNotMatching(REDIS_CLASS)
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("io.lettuce..", "io.netty..", "reactor..")
                .check(core);
    }

    @Test
    void onlyConfigurationLoadingDependsOnTheFacade() {
        // The root package (ProxyEngine, ProxyConfig) composes the subpackages; they never reach back.
        noClasses()
                .that()
                .resideInAPackage(CORE + "..")
                .and()
                .resideOutsideOfPackages(CORE, CORE + ".config..")
                .should()
                .dependOnClassesThat()
                .resideInAPackage(CORE)
                .check(core);
    }

    @Test
    void theInternalMarkerIsWhatTheOtherModulesRulesSee() {
        // The other modules refuse @Internal types: the mark must survive compilation, and the rule must bite.
        assertThat(core.get(ChatSessions.class).isAnnotatedWith(Internal.class)).isTrue();
        assertThat(noClasses()
                        .that()
                        .resideInAPackage(CORE + ".session")
                        .should()
                        .dependOnClassesThat(annotatedWith(Internal.class.getName()))
                        .evaluate(core)
                        .hasViolation())
                .isTrue();
    }

    @Test
    void publisherHelpersStandAlone() {
        // core.flow is API for modules' own publishers: it must not drag the engine's internals along.
        classes()
                .that()
                .resideInAPackage(CORE + ".flow")
                .should()
                .onlyDependOnClassesThat()
                .resideInAnyPackage("java..", CORE + ".flow")
                .check(core);
    }

    @Test
    void subpackagesAreFreeOfCycles() {
        slices().matching(CORE + ".(*)..").should().beFreeOfCycles().check(core);
    }
}
