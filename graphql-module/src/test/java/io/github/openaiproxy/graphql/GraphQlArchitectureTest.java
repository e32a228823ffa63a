package io.github.openaiproxy.graphql;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** The GraphQL module works on any adapter: no servlet or Spring type, and no session store of its own. */
class GraphQlArchitectureTest {
    private final JavaClasses classes = new ClassFileImporter()
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
}
