/**
 * API: every setting's key, default and description, and the binder that reads them from init parameters, the
 * environment or Spring properties.
 */
package io.github.openaiproxy.core.config;
