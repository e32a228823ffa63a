package io.github.openaiproxy.benchmarks.load;

import java.util.LinkedHashMap;
import java.util.Map;

/** Parses {@code --name=value} and {@code --flag} arguments. */
final class Args {
    private Args() {}

    static Map<String, String> parse(String[] args) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String a : args) {
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument: " + a);
            }
            int eq = a.indexOf('=');
            if (eq < 0) {
                m.put(a.substring(2), "true");
            } else {
                m.put(a.substring(2, eq), a.substring(eq + 1));
            }
        }
        return m;
    }
}
