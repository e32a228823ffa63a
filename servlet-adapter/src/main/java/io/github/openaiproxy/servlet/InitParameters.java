package io.github.openaiproxy.servlet;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.config.ProxySettings;
import java.util.function.Function;

/** Init parameters first, then the environment: the translation for registration by class name. */
final class InitParameters {
    private InitParameters() {}

    static ProxyConfig toConfig(Function<String, String> initParameter) {
        ProxySettings env = ProxySettings.fromEnvironment(System.getenv());
        ProxyConfig.Builder b = env.applyTo(ProxyConfig.builder());
        return ProxySettings.from(initParameter).applyTo(b).build();
    }
}
