package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.upstream.UpstreamConfig;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.JettyProxy;
import io.github.openaiproxy.servlet.support.ProxyServer;
import io.github.openaiproxy.servlet.support.StubUpstream;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import jakarta.servlet.Filter;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.tomcat.util.descriptor.web.FilterDef;
import org.apache.tomcat.util.descriptor.web.FilterMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A host filter that reads a request's parameters ({@code getParameter}, as Spring's {@code HiddenHttpMethodFilter}
 * does on every POST) in front of the proxy, where the container parses form and multipart bodies for it (in Spring
 * Boot the proxy's filter at {@code /} runs under the dispatcher servlet's multipart configuration): the container
 * has read the body before the proxy could. An upload must then get a clear answer, not an upstream call with a
 * {@code Content-Length} and no body that waits until a timeout.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HostFilterReadsBodyHttpTest {
    static final String BOUNDARY = "----host-filter-boundary";

    final List<StubUpstream.RecordedRequest> calls = new CopyOnWriteArrayList<>();
    StubUpstream upstream;
    ProxyServer proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            upstream.close();
        }
    }

    @Test
    void anUploadWhoseBodyAHostFilterHadParsedGetsAClearConfigurationError() {
        upstream = StubUpstream.start(ex -> {
            calls.add(ex.request());
            ex.respond(200, "application/json", "{\"text\":\"ok\"}".getBytes(StandardCharsets.UTF_8));
        });
        ProxyConfig config = ProxySettings.from(
                        Map.of("pass-through-routes", "POST /v1/chat/completions, POST /v1/audio/transcriptions"))
                .applyTo(ProxyConfig.builder())
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .build();
        Filter hiddenMethod = (request, response, chain) -> {
            request.getParameter("_method");
            chain.doFilter(request, response);
        };
        proxy = TomcatProxy.servlet(ProxyEngine.create(config), context -> {
            context.setAllowCasualMultipartParsing(true); // as a multipart-configured servlet's mapping
            FilterDef def = new FilterDef();
            def.setFilterName("hidden-method");
            def.setFilter(hiddenMethod);
            def.setAsyncSupported("true");
            context.addFilterDef(def);
            FilterMap map = new FilterMap();
            map.setFilterName("hidden-method");
            map.addURLPattern("/*");
            context.addFilterMap(map);
        });
        String body = "--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--"
                + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\n"
                + "Content-Type: audio/mpeg\r\n\r\n" + "x".repeat(5000) + "\r\n--" + BOUNDARY + "--\r\n";

        HttpResponse<String> r = Http.send(Http.request(proxy.uri("/v1/audio/transcriptions"))
                .header("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build());

        assertThat(r.statusCode()).isEqualTo(500);
        assertThat(r.headers().firstValue("x-should-retry")).hasValue("false");
        assertThat(r.body()).contains("Configuration Error").contains("read the request body");
        assertThat(calls).isEmpty();
    }

    @Test
    void aJsonBodyAHostFilterReadItselfGetsAClearConfigurationError() {
        upstream = StubUpstream.start(ex -> {
            calls.add(ex.request());
            ex.respond(200, "application/json", "{\"id\":\"ok\"}".getBytes(StandardCharsets.UTF_8));
        });
        ProxyConfig config = ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .build();
        Filter naiveLogging = (request, response, chain) -> {
            request.getInputStream().readAllBytes(); // logs the body, then passes the request on unchanged
            chain.doFilter(request, response);
        };
        proxy = TomcatProxy.servlet(ProxyEngine.create(config), context -> {
            FilterDef def = new FilterDef();
            def.setFilterName("naive-logging");
            def.setFilter(naiveLogging);
            def.setAsyncSupported("true");
            context.addFilterDef(def);
            FilterMap map = new FilterMap();
            map.setFilterName("naive-logging");
            map.addURLPattern("/*");
            context.addFilterMap(map);
        });

        HttpResponse<String> r = Http.postJson(
                proxy.uri("/v1/chat/completions"),
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertThat(r.statusCode()).isEqualTo(500);
        assertThat(r.headers().firstValue("x-should-retry")).hasValue("false");
        assertThat(r.body()).contains("Configuration Error").contains("read the request body");
        assertThat(calls).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"tomcat", "jetty"})
    void aJsonBodyAHostFilterReadThroughTheReaderGetsAClearConfigurationError(String container) {
        upstream = StubUpstream.start(ex -> {
            calls.add(ex.request());
            ex.respond(200, "application/json", "{\"id\":\"ok\"}".getBytes(StandardCharsets.UTF_8));
        });
        ProxyConfig config = ProxyConfig.builder()
                .apiKey("sk-server-key-123456")
                .upstream(UpstreamConfig.defaults().withBaseUrl(upstream.baseUrl()))
                .build();
        Filter readerLogging = (request, response, chain) -> {
            request.getReader().lines().count(); // logs the body as text, then passes the request on
            chain.doFilter(request, response);
        };
        proxy = container.equals("tomcat")
                ? TomcatProxy.servlet(config, readerLogging)
                : JettyProxy.servlet(config, readerLogging);

        HttpResponse<String> r = Http.postJson(
                proxy.uri("/v1/chat/completions"),
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertThat(r.statusCode()).isEqualTo(500);
        assertThat(r.headers().firstValue("content-type"))
                .hasValueSatisfying(t -> assertThat(t).startsWith("application/json"));
        assertThat(r.headers().firstValue("x-should-retry")).hasValue("false");
        assertThat(r.body()).contains("Configuration Error").contains("read the request body");
        assertThat(calls).isEmpty();
    }
}
