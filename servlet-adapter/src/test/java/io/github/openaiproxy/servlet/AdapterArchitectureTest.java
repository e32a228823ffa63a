package io.github.openaiproxy.servlet;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** The adapter translates; it uses core's public API only and takes no framework beyond the servlet API. */
class AdapterArchitectureTest {
    private final JavaClasses adapter = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.github.openaiproxy.servlet");

    @Test
    void usesNoCoreInternals() {
        noClasses()
                .should()
                .dependOnClassesThat()
                .resideInAPackage("io.github.openaiproxy.core.internal..")
                .because("core.internal is an implementation detail of core")
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
