/**
 * SPI: the observer that metrics and tracing implement, and the composite that several observers make. {@code
 * GuardedObservation} and {@code ObservedResponses} are internal.
 */
package io.github.openaiproxy.core.observe;
