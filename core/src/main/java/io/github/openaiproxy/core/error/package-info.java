/**
 * API: the errors the proxy answers with and the JSON shapes they take.
 */
package io.github.openaiproxy.core.error;
