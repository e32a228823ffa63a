/**
 * API: the CORS configuration. {@code CorsPolicy} is internal.
 */
package io.github.openaiproxy.core.cors;
