package io.github.openaiproxy.core.relay;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Which answers the relay reads ahead as JSON: JSON types in any case and with parameters, nothing else. */
class JsonContentTypeTest {
    @ParameterizedTest(name = "[{0}] {1}")
    @CsvSource(
            delimiter = '|',
            value = {
                "application/json | true",
                "Application/JSON; charset=utf-8 | true",
                " application/json ;charset=utf-8 | true",
                "application/problem+json | true",
                "application/vnd.api+JSON | true",
                "application/jsonx | false",
                "application/json-seq | false",
                "application/+json | false",
                "text/json | false",
                "audio/mpeg | false",
                "application/octet-stream | false",
                "text/event-stream | false",
                "'' | false",
                "application/ | false"
            })
    void jsonTypesAreReadAheadOthersNot(String contentType, boolean json) {
        assertThat(io.github.openaiproxy.core.internal.HeaderMap.isJsonType(contentType))
                .isEqualTo(json);
    }
}
