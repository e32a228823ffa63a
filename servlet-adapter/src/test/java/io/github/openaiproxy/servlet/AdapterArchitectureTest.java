package io.github.openaiproxy.servlet;

import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.core.domain.properties.CanBeAnnotated.Predicates.annotatedWith;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** The adapter translates; it uses core's public API only and takes no framework beyond the servlet API. */
class AdapterArchitectureTest {
    private static final JavaClasses adapter = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.github.openaiproxy.servlet");

    @Test
    void usesNoCoreInternals() {
        noClasses()
                .should()
                .dependOnClassesThat(resideInAnyPackage(
                                "io.github.openaiproxy.core.internal..", "io.github.openaiproxy.core.relay..")
                        .or(annotatedWith("io.github.openaiproxy.core.internal.Internal")))
                .because("core.internal, core.relay and @Internal types are implementation details of core")
                .check(adapter);
    }

    @Test
    void usesNoSpringOrContainerSpecificTypes() {
        noClasses()
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("org.springframework..", "org.apache.catalina..", "org.eclipse.jetty..")
                .because("the adapter must run in any servlet container")
                .check(adapter);
    }
}
