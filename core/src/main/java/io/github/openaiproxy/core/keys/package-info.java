/**
 * API: where the upstream key comes from and the header a client may send its own in. The resolver and masker
 * are internal.
 */
package io.github.openaiproxy.core.keys;
