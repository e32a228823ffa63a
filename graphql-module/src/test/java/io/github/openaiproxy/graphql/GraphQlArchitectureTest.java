package io.github.openaiproxy.graphql;

import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.core.domain.properties.CanBeAnnotated.Predicates.annotatedWith;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** The GraphQL module works on any adapter: no servlet or Spring type, and no session store of its own. */
class GraphQlArchitectureTest {
    private static final JavaClasses classes = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.github.openaiproxy.graphql");

    @Test
    void dependsOnNoWebFramework() {
        noClasses()
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("jakarta.servlet..", "javax.servlet..", "org.springframework..")
                .check(classes);
    }

    @Test
    void usesNoCoreInternals() {
        noClasses()
                .should()
                .dependOnClassesThat(resideInAnyPackage(
                                "io.github.openaiproxy.core.internal..", "io.github.openaiproxy.core.relay..")
                        .or(annotatedWith("io.github.openaiproxy.core.internal.Internal")))
                .because("core.internal, core.relay and @Internal types are implementation details of core")
                .check(classes);
    }

    @Test
    void reachesSessionsOnlyThroughTheProxysRoutes() {
        noClasses()
                .should()
                .dependOnClassesThat()
                .haveSimpleNameEndingWith("SessionStore")
                .orShould()
                .dependOnClassesThat()
                .resideInAnyPackage("io.github.openaiproxy.core.upstream..", "io.github.openaiproxy.core.keys..")
                .check(classes);
    }

    /** The admin fields run the admin REST route (which authenticates and audits): no store or service of its own. */
    @Test
    void reachesTheAdminApiOnlyThroughItsRoute() {
        noClasses()
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("io.github.openaiproxy.core.admin..", "io.github.openaiproxy.core.access.jdbc..")
                .orShould()
                .dependOnClassesThat()
                .haveSimpleNameEndingWith("KeyStore")
                .orShould()
                .dependOnClassesThat()
                .haveSimpleNameEndingWith("PolicyStore")
                .orShould()
                .dependOnClassesThat()
                .haveSimpleNameEndingWith("AuditLog")
                .check(classes);
    }
}
