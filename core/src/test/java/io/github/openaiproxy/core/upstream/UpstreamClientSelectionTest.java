package io.github.openaiproxy.core.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import org.junit.jupiter.api.Test;

/** Which client {@link UpstreamClient#create} picks, with and without the optional jetty-client. */
class UpstreamClientSelectionTest {

    @Test
    void autoPicksJettysClientWhenItIsOnTheClassPath() {
        try (UpstreamClient client = UpstreamClient.create(UpstreamConfig.defaults())) {
            assertThat(client.getClass().getSimpleName()).isEqualTo("JettyUpstreamClient");
        }
    }

    @Test
    void theClientCreatedIsTheOneAskedFor() {
        for (UpstreamConfig.ClientKind kind :
                new UpstreamConfig.ClientKind[] {UpstreamConfig.ClientKind.JETTY, UpstreamConfig.ClientKind.JDK}) {
            try (UpstreamClient client =
                    UpstreamClient.create(UpstreamConfig.defaults().withClient(kind))) {
                assertThat(client.getClass().getSimpleName())
                        .isEqualTo(
                                kind == UpstreamConfig.ClientKind.JETTY ? "JettyUpstreamClient" : "JdkUpstreamClient");
            }
        }
    }

    @Test
    void withoutJettyAutoFallsBackToTheJdkClientAndJettyIsRefusedByName() throws Exception {
        // Core's own classes in a loader that sees the JDK only: a deployment that left jetty-client out.
        URL coreClasses =
                UpstreamClient.class.getProtectionDomain().getCodeSource().getLocation();
        try (URLClassLoader isolated =
                new URLClassLoader(new URL[] {coreClasses}, ClassLoader.getPlatformClassLoader())) {
            assertThatThrownBy(() -> isolated.loadClass("org.eclipse.jetty.client.HttpClient"))
                    .isInstanceOf(ClassNotFoundException.class);
            Class<?> config = isolated.loadClass(UpstreamConfig.class.getName());
            Class<?> kind = isolated.loadClass(UpstreamConfig.ClientKind.class.getName());
            Object defaults = config.getMethod("defaults").invoke(null);
            Method create = isolated.loadClass(UpstreamClient.class.getName()).getMethod("create", config);

            try (AutoCloseable client = (AutoCloseable) create.invoke(null, defaults)) {
                assertThat(client.getClass().getSimpleName()).isEqualTo("JdkUpstreamClient");
            }

            Object jetty = config.getMethod("withClient", kind)
                    .invoke(defaults, kind.getMethod("parse", String.class).invoke(null, "jetty"));
            assertThatThrownBy(() -> create.invoke(null, jetty))
                    .isInstanceOf(InvocationTargetException.class)
                    .cause()
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("org.eclipse.jetty:jetty-client is not on the class path");
        }
    }
}
