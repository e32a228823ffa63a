package io.github.openaiproxy.spring;

import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.core.domain.properties.CanBeAnnotated.Predicates.annotatedWith;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** The Spring starter uses core's API and SPI only, never its internals. */
class StarterArchitectureTest {
    private final JavaClasses classes = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.github.openaiproxy.spring");

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
}
