package io.github.openaiproxy.spring;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.config.Setting;
import io.github.openaiproxy.core.config.SettingsCatalog;
import io.github.openaiproxy.graphql.GraphQlOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * README's table of Spring-only properties is checked against the starter's catalog, as the configuration table
 * is against core's (the standalone module's {@code SettingsReadmeTest}): every setting only the starter has is a
 * row with its default, and every {@code openai.proxy.*} row names a setting the code knows, with its default.
 */
class SpringOnlyPropertiesReadmeTest {
    private static final SettingsCatalog CORE = SettingsCatalog.concat(ProxySettings.CATALOG, GraphQlOptions.SETTINGS);

    @Test
    void theSpringOnlyTableIsTheStartersCatalogWithItsDefaults() throws Exception {
        Map<String, String> rows = springOnlyRows();
        for (Setting s : OpenAiProxySettings.SPRING_ONLY.settings()) {
            String property = OpenAiProxySettings.PREFIX + s.key();
            assertThat(rows).as("README row for %s", property).containsKey(property);
            assertThat(rows.get(property)).as(property).startsWith(defaultCell(s));
        }
        for (Map.Entry<String, String> row : rows.entrySet()) {
            if (!row.getKey().startsWith(OpenAiProxySettings.PREFIX)) {
                continue; // management.health.openai-proxy.enabled is Spring Boot's own switch
            }
            String key = row.getKey().substring(OpenAiProxySettings.PREFIX.length());
            Setting s = OpenAiProxySettings.SPRING_ONLY
                    .find(key)
                    .or(() -> CORE.find(key))
                    .orElse(null);
            assertThat(s).as("a setting for README's %s", row.getKey()).isNotNull();
            assertThat(row.getValue()).as(row.getKey()).startsWith(defaultCell(s));
        }
    }

    /** {@code `50`}, or {@code none} for a setting unset by default. */
    private static String defaultCell(Setting s) {
        return s.defaultValue() == null ? "none" : "`" + s.defaultValue() + "`";
    }

    /** Property to default cell, from the table headed {@code | property | default | meaning |}. */
    private static Map<String, String> springOnlyRows() throws Exception {
        String readme = Files.readString(Path.of("../../README.md"));
        int start = readme.indexOf("\n| property | default | meaning |\n");
        assertThat(start).as("README has the Spring-only properties table").isNotNegative();
        Map<String, String> rows = new LinkedHashMap<>();
        for (String line : readme.substring(start + 1).split("\n")) {
            if (!line.startsWith("|")) {
                break;
            }
            String[] cells = line.substring(1, line.length() - 1).split(" \\| ", -1);
            String property = cells[0].strip();
            if (cells.length == 3 && property.startsWith("`") && property.endsWith("`")) {
                rows.put(property.substring(1, property.length() - 1), cells[1].strip());
            }
        }
        assertThat(rows).as("rows of the Spring-only properties table").isNotEmpty();
        return rows;
    }
}
