package io.github.openaiproxy.core;

import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.github.openaiproxy.core.testing.Answer;
import io.github.openaiproxy.testsupport.WireMockUpstream;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The proxy reads its credentials from the {@code Authorization} header only. A proxy key or admin token a client
 * puts in the query string instead ({@code ?api_key=opk-...}) was forwarded, with the rest of the query, to the
 * upstream and its logs when anonymous callers are allowed; it is a 400 now, which echoes nothing and calls no one.
 */
class QueryCredentialTest {
    private static final String SECRET = "opk-secret0123456789abcdef";

    @RegisterExtension
    static final WireMockUpstream upstream = new WireMockUpstream();

    private static ProxyEngine engine;

    @BeforeAll
    static void start() {
        engine = ProxyEngine.builder(EngineFixture.config(upstream.baseUrl()).build())
                .build();
    }

    @AfterAll
    static void stop() {
        engine.close();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "api_key=" + SECRET,
                "limit=2&key=" + SECRET,
                "api_key=opk%2Dsecret0123456789abcdef",
                "api_key=+" + SECRET,
                SECRET,
                "token=opa-admin0123456789abcdef"
            })
    void aProxyCredentialInTheQueryIs400AndNeverForwarded(String query) {
        upstream.server().resetRequests();
        upstream.server().stubFor(get(anyUrl()).willReturn(okJson("{\"data\":[]}")));

        Answer a = EngineFixture.send(engine, EngineFixture.get("/v1/models").rawQuery(query));

        assertThat(a.status()).as(a.text()).isEqualTo(400);
        assertThat(a.text())
                .contains("invalid_request_error", "Authorization")
                .doesNotContain("secret0123", "admin0123");
        List<LoggedRequest> calls = upstream.server().findAll(anyRequestedFor(anyUrl()));
        assertThat(calls).as("nothing forwarded").isEmpty();
    }

    @Test
    void anOrdinaryQueryIsForwardedAsWritten() {
        upstream.server().resetRequests();
        upstream.server().stubFor(get(anyUrl()).willReturn(okJson("{\"data\":[]}")));

        Answer a = EngineFixture.send(engine, EngineFixture.get("/v1/models").rawQuery("after=file-opk-1&limit=2"));

        assertThat(a.status()).as(a.text()).isEqualTo(200);
        upstream.server().verify(1, getRequestedFor(urlEqualTo("/v1/models?after=file-opk-1&limit=2")));
    }
}
