/**
 * Internal: helpers of core only; no other module may depend on this package (every module's ArchUnit test
 * checks it). {@link io.github.openaiproxy.core.internal.Internal} marks public types elsewhere in core that are
 * internal too.
 */
package io.github.openaiproxy.core.internal;
