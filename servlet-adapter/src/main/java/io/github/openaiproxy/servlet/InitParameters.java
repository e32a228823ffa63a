package io.github.openaiproxy.servlet;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.config.UnknownSettings;
import java.util.Collection;
import java.util.function.Function;
import java.util.function.Supplier;

/** Init parameters first, then the environment: the translation for registration by class name. */
final class InitParameters {
    private static final System.Logger LOG = System.getLogger(InitParameters.class.getName());

    private InitParameters() {}

    /**
     * @param initParameter an init parameter's value
     * @param names the init parameters' names, where {@code policies.<name>.<rule>} keys are found
     */
    static ProxyConfig toConfig(Function<String, String> initParameter, Supplier<Collection<String>> names) {
        // Every init parameter is a setting: a misspelt one would be ignored without a word (its value is never
        // logged). The environment is not checked: other modules' variables share its prefix.
        for (UnknownSettings.Unknown u : UnknownSettings.inKeys(ProxySettings.CATALOG, names.get())) {
            LOG.log(System.Logger.Level.WARNING, "openai-proxy: init parameter " + u.message());
        }
        ProxySettings env = ProxySettings.fromEnvironment(System.getenv());
        ProxyConfig.Builder b = env.applyTo(ProxyConfig.builder());
        return ProxySettings.from(initParameter, names).applyTo(b).build();
    }
}
