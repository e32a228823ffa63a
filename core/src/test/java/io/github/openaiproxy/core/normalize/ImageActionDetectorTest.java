package io.github.openaiproxy.core.normalize;

import static io.github.openaiproxy.core.normalize.NormalizerFixture.json;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ImageActionDetectorTest {

    @ParameterizedTest(name = "{0} -> image: {1}")
    @CsvSource(delimiter = '|', textBlock = """
            {"action":"generate-image","prompt":"a cat"}                          | true
            {"action":"generate-image"}                                           | true
            {"action":"generate-image","messages":[],"prompt":"a cat"}            | true
            {"prompt":"a cat"}                                                    | true
            {"prompt":"a cat","model":"dall-e-2"}                                 | true
            {"prompt":"a cat","messages":[{"role":"user","content":"hi"}]}        | false
            {"prompt":"a cat","messages":null}                                    | true
            {"prompt":null}                                                       | false
            {"prompt":null,"messages":[{"role":"user","content":"hi"}]}           | false
            {"messages":[{"role":"user","content":"hi"}]}                         | false
            {"action":"chat","prompt":"a cat","messages":[]}                      | false
            {"action":"GENERATE-IMAGE","messages":[]}                             | false
            {"action":1,"messages":[]}                                            | false
            {}                                                                    | false
            """)
    void tellsImageRequestsFromChatRequests(String body, boolean image) {
        assertThat(ImageActionDetector.isImageRequest(json(body))).isEqualTo(image);
    }
}
