/**
 * API: the request and response an adapter hands to and takes from the engine, the response builder for routes
 * and steps that answer themselves, and the allowed-hosts check.
 */
package io.github.openaiproxy.core.http;
