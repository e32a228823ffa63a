/**
 * SPI: the chat session store ({@link io.github.openaiproxy.core.session.SessionStore}) and what it stores; the
 * in-memory and JDBC stores. {@code ChatSessions} and the session routes are internal.
 */
package io.github.openaiproxy.core.session;
