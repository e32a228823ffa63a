/**
 * SPI: routes a module adds ({@link io.github.openaiproxy.core.route.CustomRoute}, called with a {@link
 * io.github.openaiproxy.core.route.RouteCall}), and the table that says which route serves a path.
 */
package io.github.openaiproxy.core.route;
