/**
 * API and SPI: who may call. Each request resolves to one {@link io.github.openaiproxy.core.access.Identity}
 * (a proxy key, the host application's user, a JWT, or an anonymous address) and runs under that identity's
 * {@link io.github.openaiproxy.core.access.Policy}. {@link io.github.openaiproxy.core.access.IdentitySource},
 * {@link io.github.openaiproxy.core.access.ProxyKeyStore} and {@link io.github.openaiproxy.core.access.PolicyStore}
 * are the extension points.
 */
package io.github.openaiproxy.core.access;
