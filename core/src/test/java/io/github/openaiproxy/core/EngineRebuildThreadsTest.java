package io.github.openaiproxy.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.config.ProxySettings;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.awaitility.Awaitility;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Engines built and closed in a loop, with named upstreams that share the proxy's client (only a timeout of their
 * own) and one with a client of its own (another connect timeout): the upstream threads come back to where they
 * were, and a policy that counts tokens starts at most one tokenizer thread however many engines are built.
 */
class EngineRebuildThreadsTest {
    private static long threads(String prefix) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith(prefix))
                .count();
    }

    private static ProxyEngine engine(String client) {
        String[] kindAndVersion = client.split(":");
        Map<String, String> s = new HashMap<>();
        if (kindAndVersion.length > 1) {
            s.put("upstream-http-version", kindAndVersion[1]);
        }
        client = kindAndVersion[0];
        s.put("api-key", "sk-server-0123456789abcdefghijklmnop");
        s.put("base-url", "http://127.0.0.1:9");
        s.put("upstream-client", client);
        for (String name : new String[] {"a", "b", "c"}) {
            s.put("upstreams." + name + ".kind", "compatible");
            s.put("upstreams." + name + ".base-url", "http://127.0.0.1:9/v1");
            s.put("upstreams." + name + ".keys", "sk-" + name + "-0123456789abcdefghijklmnopqrst");
            s.put("upstreams." + name + ".models", "model-" + name);
        }
        s.put("upstreams.b.timeout", "7s");
        s.put("upstreams.c.connect-timeout", "2s");
        s.put("upstreams.b.http-version", "1.1"); // another transport on Jetty over HTTP/2
        s.put("upstreams.a.timeout", "20m"); // over HTTP/2, past the connections' idle time: a client of its own
        s.put("policies.anonymous.tokens-per-minute", "100000");
        return ProxyEngine.builder(ProxySettings.from(s).toConfig()).build();
    }

    @ParameterizedTest
    @ValueSource(strings = {"jetty", "jdk", "jetty:2", "jdk:2"})
    void upstreamThreadsComeBackAfterManyEnginesAndOneTokenizerThreadAtMost(String client) {
        long before = threads("openai-proxy-upstream");
        long mostLoaders = 0;
        for (int i = 0; i < 25; i++) {
            engine(client).close();
            mostLoaders = Math.max(mostLoaders, threads("openai-proxy-tokenizer-load"));
        }
        assertThat(mostLoaders).isLessThanOrEqualTo(1);
        Awaitility.await()
                .atMost(Duration.ofSeconds(30))
                .untilAsserted(
                        () -> assertThat(threads("openai-proxy-upstream")).isLessThanOrEqualTo(before));
    }
}
