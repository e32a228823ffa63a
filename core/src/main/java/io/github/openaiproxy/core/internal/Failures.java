package io.github.openaiproxy.core.internal;

import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** What failed, behind the wrappers that futures put around a failure. */
public final class Failures {
    private Failures() {}

    /** The cause inside any {@link CompletionException} and {@link ExecutionException} layers. */
    public static Throwable unwrap(Throwable t) {
        Throwable c = t;
        while ((c instanceof CompletionException || c instanceof ExecutionException) && c.getCause() != null) {
            c = c.getCause();
        }
        return c;
    }
}
