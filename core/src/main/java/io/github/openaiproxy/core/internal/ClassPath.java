package io.github.openaiproxy.core.internal;

/** Whether an optional dependency of core is there, asked without loading more of it than its name. */
public final class ClassPath {
    private ClassPath() {}

    /**
     * Whether {@code className} can be found by core's class loader; a class that is there but cannot be linked
     * counts as absent.
     */
    public static boolean has(String className) {
        try {
            Class.forName(className, false, ClassPath.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }
}
