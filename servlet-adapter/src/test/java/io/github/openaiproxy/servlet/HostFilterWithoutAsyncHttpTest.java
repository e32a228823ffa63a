package io.github.openaiproxy.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.github.openaiproxy.core.ProxyEngine;
import io.github.openaiproxy.core.testing.Upstream;
import io.github.openaiproxy.servlet.support.Http;
import io.github.openaiproxy.servlet.support.TomcatProxy;
import jakarta.servlet.Filter;
import java.net.http.HttpResponse;
import java.util.concurrent.TimeUnit;
import org.apache.tomcat.util.descriptor.web.FilterDef;
import org.apache.tomcat.util.descriptor.web.FilterMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A host filter in front of the proxy registered with async support off ({@code <async-supported>false</async-supported>}
 * in web.xml; a Jetty filter left at its default): the proxy cannot answer asynchronously, and says so in words that lead to the filter, not only to the proxy's
 * own registration (which is right), without a hang and without a retry by the SDKs.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class HostFilterWithoutAsyncHttpTest {
    @RegisterExtension
    static WireMockExtension upstream = Upstream.extension();

    @Test
    void aHostFilterWithoutAsyncSupportGetsAClearConfigurationError() {
        Filter passOn = (request, response, chain) -> chain.doFilter(request, response);
        try (TomcatProxy proxy =
                TomcatProxy.servlet(ProxyEngine.create(Upstream.config(upstream).build()), context -> {
                    FilterDef def = new FilterDef();
                    def.setFilterName("host-logging");
                    def.setFilter(passOn);
                    def.setAsyncSupported("false");
                    context.addFilterDef(def);
                    FilterMap map = new FilterMap();
                    map.setFilterName("host-logging");
                    map.addURLPattern("/*");
                    context.addFilterMap(map);
                })) {
            HttpResponse<String> r = Http.postJson(
                    proxy.uri("/v1/chat/completions"), "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

            assertThat(r.statusCode()).isEqualTo(500);
            assertThat(r.headers().firstValue("content-type"))
                    .hasValueSatisfying(t -> assertThat(t).startsWith("application/json"));
            assertThat(r.headers().firstValue("x-should-retry")).hasValue("false");
            assertThat(r.body()).contains("Configuration Error").contains("filter in front of it");
            assertThat(upstream.getAllServeEvents()).isEmpty();
        }
    }
}
