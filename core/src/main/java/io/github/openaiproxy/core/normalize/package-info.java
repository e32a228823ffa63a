/**
 * API: the defaults of the simple routes and the normalizers that apply them (pure functions on a JSON body).
 */
package io.github.openaiproxy.core.normalize;
