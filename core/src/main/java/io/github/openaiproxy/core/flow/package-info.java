/**
 * API for modules' own {@code Flow} publishers: the smallest publishers, demand counting, a forwarding tap, and
 * the base of a stream of Server-Sent Events. Depends on nothing else in core.
 */
package io.github.openaiproxy.core.flow;
