package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.config.Setting;
import io.github.openaiproxy.core.config.SettingsCatalog;
import io.github.openaiproxy.graphql.GraphQlOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The README's settings tables are checked against the catalogs: every setting of core and the GraphQL
 * module is a row of {@code ## Configuration}, in the catalog's order, with its environment variable and its
 * default; every setting this server adds is in the table of the standalone server. This module sees all
 * three catalogs, so the check lives here.
 */
class SettingsReadmeTest {
    /** The settings only this server reads. */
    private static final SettingsCatalog OWN = SettingsCatalog.concat(SessionStorage.SETTINGS, GracefulStop.SETTINGS);

    @Test
    void theConfigurationTableIsTheCatalog() throws Exception {
        SettingsCatalog catalog = SettingsCatalog.concat(ProxySettings.CATALOG, GraphQlOptions.SETTINGS);
        List<String[]> rows = rows(section(), 4);
        assertThat(rows.stream().map(r -> unquote(r[0])).toList()).containsExactlyElementsOf(catalog.keys());
        for (String[] row : rows) {
            Setting s = catalog.get(unquote(row[0]));
            assertThat(unquote(row[1])).as(s.key()).isEqualTo(s.environmentName());
            assertThat(row[2]).as(s.key()).startsWith(defaultCell(s));
        }
    }

    @Test
    void theStandaloneTableListsTheServersOwnSettings() throws Exception {
        List<String[]> rows = rows(section(), 3);
        List<String> documented = new ArrayList<>();
        for (String[] row : rows) {
            List<String> names = Arrays.stream(row[0].split(","))
                    .map(SettingsReadmeTest::unquote)
                    .toList();
            documented.addAll(names);
            if (names.size() == 1) {
                for (Setting s : OWN.settings()) {
                    if (s.environmentName().equals(names.get(0))) {
                        assertThat(row[1]).as(s.key()).startsWith(defaultCell(s));
                    }
                }
            }
        }
        for (Setting s : OWN.settings()) {
            assertThat(documented).contains(s.environmentName());
        }
        Setting store = ProxySettings.CATALOG.get("sessions.store");
        assertThat(rows).anySatisfy(r -> {
            assertThat(unquote(r[0])).isEqualTo(store.environmentName());
            assertThat(r[1]).startsWith(defaultCell(store));
        });
    }

    /** {@code `10MB`}, or {@code none} for a setting unset by default (a parenthesis may explain). */
    static String defaultCell(Setting s) {
        return s.defaultValue() == null ? "none" : "`" + s.defaultValue() + "`";
    }

    private static String section() throws Exception {
        String readme = Files.readString(Path.of("../../README.md"));
        int start = readme.indexOf("\n## Configuration\n");
        assertThat(start).as("README has ## Configuration").isNotNegative();
        int end = readme.indexOf("\n## ", start + 1);
        return readme.substring(start, end);
    }

    /** The body rows of the tables with this many columns. */
    private static List<String[]> rows(String section, int columns) {
        List<String[]> rows = new ArrayList<>();
        for (String line : section.split("\n")) {
            if (!line.startsWith("| ") || line.startsWith("|---")) {
                continue;
            }
            String[] cells = line.substring(1, line.length() - 1).split(" \\| ", -1);
            if (cells.length == columns
                    && !cells[0].strip().equals("key")
                    && !cells[0].strip().startsWith("environment")) {
                rows.add(Arrays.stream(cells).map(String::strip).toArray(String[]::new));
            }
        }
        return rows;
    }

    private static String unquote(String cell) {
        String c = cell.strip();
        return c.startsWith("`") && c.endsWith("`") ? c.substring(1, c.length() - 1) : c;
    }
}
