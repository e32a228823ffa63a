/**
 * SPI: the client that calls the upstream ({@link io.github.openaiproxy.core.upstream.UpstreamClient}), what it
 * is given and what it answers; the JDK and Jetty implementations. {@code UpstreamRequests} is internal.
 */
package io.github.openaiproxy.core.upstream;
