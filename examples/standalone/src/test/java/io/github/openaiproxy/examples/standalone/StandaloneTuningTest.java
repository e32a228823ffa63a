package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Properties;
import org.apache.catalina.connector.Connector;
import org.junit.jupiter.api.Test;

class StandaloneTuningTest {
    private static final String PARALLELISM = "java.util.concurrent.ForkJoinPool.common.parallelism";

    @Test
    void givesTheCommonPoolTwoThreadsOnSmallMachinesOnly() {
        Properties small = new Properties();
        StandaloneServer.tuneJvm(small, 2);
        assertThat(small.getProperty(PARALLELISM)).isEqualTo("2");

        Properties large = new Properties();
        StandaloneServer.tuneJvm(large, 8);
        assertThat(large.getProperty(PARALLELISM)).isNull();
        assertThat(large.getProperty("jdk.httpclient.bufsize")).isEqualTo("8192");
    }

    @Test
    void keepsWhatTheCommandLineChose() {
        Properties p = new Properties();
        p.setProperty(PARALLELISM, "6");
        p.setProperty("jdk.httpclient.bufsize", "16384");
        StandaloneServer.tuneJvm(p, 1);
        assertThat(p.getProperty(PARALLELISM)).isEqualTo("6");
        assertThat(p.getProperty("jdk.httpclient.bufsize")).isEqualTo("16384");
    }

    @Test
    void connectorHasABoundedPoolAndSmallPerConnectionBuffers() {
        Connector c = new Connector("HTTP/1.1");
        StandaloneServer.tune(c);
        // (maxKeepAliveRequests reads as 1 until the connector is bound, so it is not checked here.)
        assertThat((Integer) c.getProperty("maxThreads"))
                .isEqualTo(Math.max(8, 4 * Runtime.getRuntime().availableProcessors()));
        assertThat(String.valueOf(c.getProperty("socket.appReadBufSize"))).isEqualTo("2048");
        assertThat(String.valueOf(c.getProperty("socket.appWriteBufSize"))).isEqualTo("4096");
        assertThat(String.valueOf(c.getProperty("maxHttpResponseHeaderSize"))).isEqualTo("4096");
        assertThat(String.valueOf(c.getProperty("maxTrailerSize"))).isEqualTo("256");
        assertThat(String.valueOf(c.getProperty("maxConnections")))
                .isEqualTo(Integer.toString(
                        StandaloneServer.maxConnections(Runtime.getRuntime().maxMemory())));
    }

    @Test
    void allowsAsManyConnectionsAsTheHeapCarriesNeverFewerThanTomcatsDefault() {
        // 10,000 streams (the benchmark's target) need more than Tomcat's 8,192.
        assertThat(StandaloneServer.maxConnections(1L << 30)).isEqualTo(16_384);
        assertThat(StandaloneServer.maxConnections(256L << 20)).isEqualTo(8_192);
        assertThat(StandaloneServer.maxConnections(Long.MAX_VALUE)).isEqualTo(Integer.MAX_VALUE);
    }

    @Test
    void connectorDropsFacadesAtRecycleWhateverItsDefault() {
        Connector c = new Connector("HTTP/1.1");
        c.setDiscardFacades(false); // an older Tomcat's default
        StandaloneServer.tune(c);
        assertThat(c.getDiscardFacades()).isTrue();
    }
}
