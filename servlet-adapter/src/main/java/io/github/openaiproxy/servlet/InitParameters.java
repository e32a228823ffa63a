package io.github.openaiproxy.servlet;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.config.ProxySettings;
import java.util.Collection;
import java.util.function.Function;
import java.util.function.Supplier;

/** Init parameters first, then the environment: the translation for registration by class name. */
final class InitParameters {
    private InitParameters() {}

    /**
     * @param initParameter an init parameter's value
     * @param names the init parameters' names, where {@code policies.<name>.<rule>} keys are found
     */
    static ProxyConfig toConfig(Function<String, String> initParameter, Supplier<Collection<String>> names) {
        ProxySettings env = ProxySettings.fromEnvironment(System.getenv());
        ProxyConfig.Builder b = env.applyTo(ProxyConfig.builder());
        return ProxySettings.from(initParameter, names).applyTo(b).build();
    }
}
