package io.github.openaiproxy.spring;

import io.github.openaiproxy.core.ProxyEngine;

/**
 * Tunes the proxy engine in code before it is built: its own upstream client, more observers or routes.
 * Declare beans of this type; they run in {@link org.springframework.core.Ordered order}, after the
 * {@link io.github.openaiproxy.core.observe.ProxyObserver ProxyObserver} and
 * {@link io.github.openaiproxy.core.route.CustomRoute CustomRoute} beans have been added. Not used when the
 * application defines its own {@link ProxyEngine} bean.
 */
@FunctionalInterface
public interface ProxyEngineCustomizer {
    /** Changes the builder in place. */
    void customize(ProxyEngine.Builder builder);
}
