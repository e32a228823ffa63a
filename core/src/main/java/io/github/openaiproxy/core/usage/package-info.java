/**
 * What requests use: token counts and images read from upstream answers (streamed or not), estimated before
 * the call, priced in US dollars, and the usage ledger's SPI ({@link io.github.openaiproxy.core.usage.UsageLedger}).
 */
package io.github.openaiproxy.core.usage;
