package io.github.openaiproxy.examples.standalone;

import io.github.openaiproxy.core.config.Setting;
import io.github.openaiproxy.core.config.SettingsBinder;
import io.github.openaiproxy.core.config.SettingsCatalog;
import java.time.Duration;
import java.util.Map;
import org.apache.catalina.Container;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.core.StandardContext;
import org.apache.catalina.core.StandardWrapper;
import org.apache.catalina.startup.Tomcat;

/**
 * The first part of a stop: the server stops listening, so a load balancer's next connection goes to another
 * instance and health probes fail, and the requests under way (a completion the upstream is still working on, a
 * stream) get {@code shutdown.grace-period} to finish before the rest of the stop ends them. Without it every rolling
 * deployment cut every chat in flight, which the client could only retry and the upstream billed twice.
 *
 * <p>Requests that arrive on connections already open keep being served during the wait; the wait ends as soon as
 * nothing is under way.
 */
final class GracefulStop {
    static final String GRACE_PERIOD = "shutdown.grace-period";

    /** The standalone server's stop setting. */
    static final SettingsCatalog SETTINGS = SettingsCatalog.of(Setting.of(
            GRACE_PERIOD,
            Setting.Type.DURATION,
            "5s",
            "How long a stop waits for the requests under way after the server stops listening."));

    /** How often the wait looks at the requests under way. */
    private static final long POLL_MILLIS = 20;

    private GracefulStop() {}

    /**
     * The configured grace period; zero stops at once. The default leaves a stop, and the ledger's last write after
     * it, inside the 10 s {@code docker stop} gives before it kills.
     */
    static Duration gracePeriod(Map<String, String> env) {
        SettingsBinder settings = SettingsBinder.fromEnvironment(SETTINGS, env);
        Duration grace = settings.value(GRACE_PERIOD);
        if (grace.isNegative()) {
            throw settings.invalid(GRACE_PERIOD, "must not be negative");
        }
        return grace;
    }

    /**
     * Stops accepting connections, then waits up to {@code grace} while a request is under way.
     *
     * @return whether nothing was under way when the wait ended
     */
    static boolean drain(Tomcat tomcat, Duration grace) {
        for (Connector connector : tomcat.getService().findConnectors()) {
            connector.getProtocolHandler().closeServerSocketGraceful();
        }
        long deadline = System.nanoTime() + grace.toNanos();
        while (underWay(tomcat)) {
            if (System.nanoTime() - deadline >= 0) {
                return false;
            }
            try {
                Thread.sleep(POLL_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    /** Whether a request is in a servlet or waiting in async mode (streams, answers the upstream still works on). */
    private static boolean underWay(Tomcat tomcat) {
        for (Container child : tomcat.getHost().findChildren()) {
            if (child instanceof StandardContext context) {
                if (context.getInProgressAsyncCount() > 0) {
                    return true;
                }
                for (Container servlet : context.findChildren()) {
                    if (servlet instanceof StandardWrapper wrapper && wrapper.getCountAllocated() > 0) {
                        return true;
                    }
                }
            }
        }
        return false;
    }
}
