package io.github.openaiproxy.core.internal;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a type that is public only because another package of core uses it: it is not API and may change
 * in any release. The other modules' ArchUnit tests refuse to depend on it, as on everything in
 * {@code core.internal} and {@code core.relay}.
 */
@Documented
@Retention(RetentionPolicy.CLASS)
@Target(ElementType.TYPE)
public @interface Internal {}
