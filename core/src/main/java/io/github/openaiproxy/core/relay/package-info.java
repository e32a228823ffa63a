/**
 * Internal: how an upstream answer becomes the client's response (streams relayed event by event, bodies checked
 * and masked).
 */
package io.github.openaiproxy.core.relay;
