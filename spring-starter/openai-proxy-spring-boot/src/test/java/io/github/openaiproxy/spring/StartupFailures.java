package io.github.openaiproxy.spring;

import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;

/** Reads start-up failures in tests. */
public final class StartupFailures {
    private StartupFailures() {}

    /**
     * The messages of a failure and its causes, one a line, with the property of an
     * {@link InvalidConfigurationPropertyValueException} quoted on a line of its own. Spring Boot's failure
     * report names the property of the first cause that has one ({@code Failed to bind properties under
     * 'openai.proxy.x' ...}, {@code Invalid value ... for configuration property 'openai.proxy.x'}).
     */
    public static String messages(Throwable failure) {
        StringBuilder all = new StringBuilder();
        for (Throwable t = failure; t != null; t = t.getCause()) {
            all.append(t.getMessage()).append('\n');
            if (t instanceof InvalidConfigurationPropertyValueException invalid) {
                all.append('\'').append(invalid.getName()).append("'\n");
            }
        }
        return all.toString();
    }
}
