package io.github.openaiproxy.servlet.support;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.openaiproxy.core.testing.ProxyAssertions;

/** Core's {@link ProxyAssertions} for a response read off a raw socket ({@link RawHttp}). */
public final class RawAssertions {
    private RawAssertions() {}

    /** As {@link ProxyAssertions#assertJsonError(java.net.http.HttpResponse, int)}. */
    public static JsonNode assertJsonError(RawHttp.Response r, int status) {
        assertThat(r.status()).as("status, body %s", r.bodyText()).isEqualTo(status);
        return ProxyAssertions.assertJsonErrorBody(r.header("content-type").orElse(null), r.bodyText());
    }

    /** As {@link ProxyAssertions#assertSeedError(java.net.http.HttpResponse, int, String)}. */
    public static String assertSeedError(RawHttp.Response r, int status, String title) {
        return ProxyAssertions.seedMessage(assertJsonError(r, status), title);
    }

    /** As {@link ProxyAssertions#assertOpenAiError(java.net.http.HttpResponse, int, String, String)}. */
    public static JsonNode assertOpenAiError(RawHttp.Response r, int status, String type, String code) {
        return ProxyAssertions.openAiError(assertJsonError(r, status), type, code);
    }
}
