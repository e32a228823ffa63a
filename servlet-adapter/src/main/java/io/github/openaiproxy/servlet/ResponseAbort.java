package io.github.openaiproxy.servlet;

import jakarta.servlet.ServletResponse;
import jakarta.servlet.ServletResponseWrapper;
import java.lang.reflect.Field;
import java.lang.reflect.Method;

/**
 * Ends a response whose body broke after the status was sent so that the client sees it incomplete: the
 * connection is closed without the body's proper end (the last chunk of a chunked body). Completing the
 * async context would instead end a chunked body cleanly, and a truncated JSON answer would look whole.
 *
 * <p>The Servlet API has no such call, so each container's own is reached by reflection (the adapter
 * depends on no container): Jetty 12's {@code ServletChannel.abort(Throwable)}, Tomcat's
 * {@code CLOSE_NOW} action (what Tomcat does itself when a committed response fails). Elsewhere the
 * fallback does nothing and the response ends as complete would; a body with a {@code Content-Length}
 * still ends short there, which clients detect.
 */
interface ResponseAbort {
    /**
     * Makes the container close the connection without ending the body; the caller then completes the
     * async context as usual.
     *
     * @return whether the container was told to; false where no way is known
     */
    boolean abort(ServletResponse response, Throwable cause);

    /** Does nothing: the container ends the response as it would a complete one. */
    ResponseAbort NONE = (response, cause) -> false;

    /** The way of the container that created {@code response} (looked up once per response class). */
    static ResponseAbort of(ServletResponse response) {
        return ContainerAborts.BY_CLASS.get(unwrap(response).getClass());
    }

    /** The container's own response under any application wrappers. */
    static ServletResponse unwrap(ServletResponse response) {
        ServletResponse r = response;
        while (r instanceof ServletResponseWrapper w) {
            r = w.getResponse();
        }
        return r;
    }

    /** The known containers' ways, by reflection on their public classes. */
    final class ContainerAborts {
        private static final System.Logger LOG = System.getLogger(ResponseAbort.class.getName());

        static final ClassValue<ResponseAbort> BY_CLASS = new ClassValue<>() {
            @Override
            protected ResponseAbort computeValue(Class<?> type) {
                try {
                    ResponseAbort found = jetty(type);
                    if (found == null) {
                        found = tomcat(type);
                    }
                    if (found != null) {
                        return found;
                    }
                } catch (ReflectiveOperationException | RuntimeException e) {
                    LOG.log(System.Logger.Level.DEBUG, "no way to abort responses of {0}: {1}", type, e.toString());
                }
                LOG.log(
                        System.Logger.Level.INFO,
                        "openai-proxy: no known way to abort a broken response on {0}; a chunked upstream body that"
                                + " breaks off will end like a complete one",
                        type.getName());
                return NONE;
            }
        };

        private ContainerAborts() {}

        /** Jetty 12 (ee10/ee11): {@code response.getServletChannel().abort(cause)}. */
        private static ResponseAbort jetty(Class<?> type) throws ReflectiveOperationException {
            if (!type.getName().startsWith("org.eclipse.jetty.")) {
                return null;
            }
            Method channel = type.getMethod("getServletChannel");
            Method abort = channel.getReturnType().getMethod("abort", Throwable.class);
            return (response, cause) -> invoke(() -> {
                Object c = channel.invoke(unwrap(response));
                abort.invoke(c, cause);
            });
        }

        /**
         * Tomcat 10.1/11: the facade's {@code Response}, its coyote response, {@code action(CLOSE_NOW, cause)}:
         * no more output, and the connection is closed instead of the chunked body being ended.
         */
        private static ResponseAbort tomcat(Class<?> type) throws ReflectiveOperationException {
            if (!type.getName().equals("org.apache.catalina.connector.ResponseFacade")) {
                return null;
            }
            Field inner = type.getDeclaredField("response");
            inner.setAccessible(true);
            Method coyote = inner.getType().getMethod("getCoyoteResponse");
            Class<?> actionCode = Class.forName("org.apache.coyote.ActionCode", false, type.getClassLoader());
            Object closeNow = actionCode.getField("CLOSE_NOW").get(null);
            Method action = coyote.getReturnType().getMethod("action", actionCode, Object.class);
            return (response, cause) -> invoke(() -> {
                Object catalina = inner.get(unwrap(response));
                action.invoke(coyote.invoke(catalina), closeNow, cause);
            });
        }

        private interface Call {
            void run() throws ReflectiveOperationException;
        }

        private static boolean invoke(Call call) {
            try {
                call.run();
                return true;
            } catch (ReflectiveOperationException | RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "aborting the response failed: {0}", e.toString());
                return false;
            }
        }
    }
}
