/**
 * API: the engine ({@link io.github.openaiproxy.core.ProxyEngine}) and its configuration ({@link
 * io.github.openaiproxy.core.ProxyConfig}); SPI: {@link io.github.openaiproxy.core.RequestStep}, a step an
 * application adds to the request pipeline, and the {@link io.github.openaiproxy.core.RequestContext} it is
 * given. The other types here are the pipeline's own and package-private.
 */
package io.github.openaiproxy.core;
