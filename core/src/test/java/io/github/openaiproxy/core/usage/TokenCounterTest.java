package io.github.openaiproxy.core.usage;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import io.github.openaiproxy.core.internal.Json;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Token counts, checked against jtokkit itself for the rules the counter adds (message overhead, images, ...). */
class TokenCounterTest {
    private static final TokenCounter COUNTER = TokenCounter.standard();
    private static final Encoding O200K = Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.O200K_BASE);
    private static final Encoding CL100K =
            Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.CL100K_BASE);

    private static JsonNode json(String text) throws Exception {
        return Json.parse(text.getBytes(StandardCharsets.UTF_8));
    }

    private static int o200k(String s) {
        return O200K.countTokensOrdinary(s);
    }

    @Test
    void helloWorldIsTwoTokensInO200k() {
        assertThat(COUNTER.tokens("gpt-4o", "hello world")).isEqualTo(2);
        assertThat(COUNTER.tokens("gpt-4o", "")).isZero();
        assertThat(COUNTER.tokens("gpt-4o", null)).isZero();
    }

    @ParameterizedTest
    @CsvSource({
        "gpt-4o, O200K_BASE",
        "gpt-4o-mini-2024-07-18, O200K_BASE",
        "gpt-4.1-nano, O200K_BASE",
        "gpt-4.5-preview, O200K_BASE",
        "gpt-5, O200K_BASE",
        "o1, O200K_BASE",
        "o3-mini, O200K_BASE",
        "o4-mini, O200K_BASE",
        "gpt-image-1, O200K_BASE",
        "chatgpt-4o-latest, O200K_BASE",
        "ft:gpt-4o-mini-2024-07-18:acme::x1, O200K_BASE",
        "GPT-4O, O200K_BASE",
        "gpt-4, CL100K_BASE",
        "gpt-4-turbo-2024-04-09, CL100K_BASE",
        "gpt-3.5-turbo, CL100K_BASE",
        "text-embedding-3-small, CL100K_BASE",
        "text-embedding-ada-002, CL100K_BASE",
        "some-local-model, O200K_BASE"
    })
    void modelsFindTheirEncoding(String model, EncodingType encoding) {
        assertThat(TokenCounter.encodingOf(model)).isEqualTo(encoding);
    }

    @Test
    void theEncodingDiffersByModel() {
        String text = "Tokenizers disagree about      whitespace and 日本語.";
        assertThat(COUNTER.tokens("gpt-4", text)).isEqualTo(CL100K.countTokensOrdinary(text));
        assertThat(COUNTER.tokens("gpt-4o", text)).isEqualTo(o200k(text));
        assertThat(CL100K.countTokensOrdinary(text)).isNotEqualTo(o200k(text));
    }

    @Test
    void chatMessagesCountThreePerMessageOnePerNameAndThreeToPrime() throws Exception {
        JsonNode body = json("{\"model\":\"gpt-4o\",\"messages\":["
                + "{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},"
                + "{\"role\":\"user\",\"name\":\"bob\",\"content\":\"What is the capital of France?\"}]}");
        long expected = 3
                + o200k("system")
                + o200k("You are a helpful assistant.")
                + 3
                + o200k("user")
                + o200k("bob")
                + 1
                + o200k("What is the capital of France?")
                + 3;
        assertThat(COUNTER.inputTokens("gpt-4o", body)).isEqualTo(expected);
    }

    @Test
    void contentPartsCountTextAndAFixedEstimatePerImage() throws Exception {
        JsonNode body = json("{\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"text\",\"text\":\"Describe these.\"},"
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}},"
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\",\"detail\":\"low\"}},"
                + "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AAAA\",\"format\":\"wav\"}}]}]}");
        long expected = 3 + o200k("user") + o200k("Describe these.") + 765 + 85 + 3;
        assertThat(COUNTER.inputTokens("gpt-4o", body)).isEqualTo(expected);
    }

    @Test
    void toolsAndToolCallsCountAsTheirJson() throws Exception {
        String tools = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"
                + "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}]";
        JsonNode body = json("{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],\"tools\":" + tools + "}");
        long expected =
                3 + o200k("user") + o200k("Weather?") + 3 + o200k(json(tools).toString());
        assertThat(COUNTER.inputTokens("gpt-4o", body)).isEqualTo(expected);
    }

    @Test
    void responsesInputAndInstructions() throws Exception {
        assertThat(COUNTER.inputTokens(
                        "gpt-4.1", json("{\"input\":\"Tell me a joke\",\"instructions\":\"Be brief.\"}")))
                .isEqualTo(o200k("Tell me a joke") + o200k("Be brief."));
        JsonNode items = json("{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"Hi\"},"
                + "{\"type\":\"input_image\",\"image_url\":\"https://x/y.png\"}]},"
                + "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"sunny\"}]}");
        assertThat(COUNTER.inputTokens("gpt-4.1", items))
                .isEqualTo(3 + o200k("user") + o200k("Hi") + 765 + 3 + o200k("sunny") + 3);
    }

    @Test
    void completionsPromptsAndEmbeddingInputs() throws Exception {
        assertThat(COUNTER.inputTokens("gpt-3.5-turbo-instruct", json("{\"prompt\":\"Say this is a test\"}")))
                .isEqualTo(CL100K.countTokensOrdinary("Say this is a test"));
        assertThat(COUNTER.inputTokens("gpt-3.5-turbo-instruct", json("{\"prompt\":[\"a b\",[1,2,3]]}")))
                .isEqualTo(CL100K.countTokensOrdinary("a b") + 3);
        assertThat(COUNTER.inputTokens(
                        "text-embedding-3-small", json("{\"input\":[\"The food was delicious\",\"and the wine\"]}")))
                .isEqualTo(CL100K.countTokensOrdinary("The food was delicious")
                        + CL100K.countTokensOrdinary("and the wine"));
        // Token arrays count their length.
        assertThat(COUNTER.inputTokens("text-embedding-3-small", json("{\"input\":[[1,2,3],[4,5]]}")))
                .isEqualTo(5);
        assertThat(COUNTER.inputTokens("text-embedding-3-small", json("{\"input\":[1,2,3,4]}")))
                .isEqualTo(4);
    }

    @Test
    void anImagePrompt() throws Exception {
        assertThat(COUNTER.inputTokens("dall-e-3", json("{\"prompt\":\"A white siamese cat\",\"n\":1}")))
                .isEqualTo(o200k("A white siamese cat"));
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "[]",
                "42",
                "null",
                "\"text\"",
                "{\"messages\":42}",
                "{\"messages\":[null, 1, [], {\"role\":7,\"content\":null,\"name\":{}}]}",
                "{\"messages\":[{\"content\":[null, 3, {\"type\":5}, {\"type\":\"text\",\"text\":[1]}]}]}",
                "{\"input\":{\"a\":1},\"instructions\":[1],\"prompt\":{},\"tools\":\"x\",\"functions\":null}",
                "{\"input\":[null, true, {\"content\":{}}, [[1]]], \"prompt\":[null, {}, [null]]}",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"<|endoftext|> <|im_start|>\"}]}"
            })
    void oddShapesNeverThrow(String body) throws Exception {
        assertThat(COUNTER.inputTokens("gpt-4o", json(body))).isNotNegative();
        assertThat(COUNTER.inputTokens(null, json(body))).isNotNegative();
    }

    @Test
    void specialTokensAreOrdinaryText() {
        assertThat(COUNTER.tokens("gpt-4o", "<|endoftext|>"))
                .isEqualTo(o200k("<|endoftext|>"))
                .isGreaterThan(1);
    }

    @Test
    void aLongWordWithoutSpacesIsCounted() {
        String word = "a".repeat(1 << 16); // one regex piece: jtokkit's large-piece encoder
        assertThat(COUNTER.tokens("gpt-4o", word)).isEqualTo(o200k(word)).isPositive();
    }

    @Test
    void aBodyBeyondTheExactBudgetIsExtrapolatedAtTheRatioCounted() throws Exception {
        String sentence = "The quick brown fox jumps over the lazy dog. ";
        String first = sentence.repeat(TokenCounter.EXACT_CHARS / sentence.length() / 2);
        String second = sentence.repeat(3 * TokenCounter.EXACT_CHARS / sentence.length());
        JsonNode body = Json.mapper()
                .createObjectNode()
                .set("input", Json.mapper().createArrayNode().add(first).add(second));
        long exact = o200k(first) + o200k(second);
        long counted = COUNTER.inputTokens("gpt-4o", body);
        // Within 1% of the exact count, though three quarters of the text were not tokenized.
        assertThat((double) counted).isCloseTo((double) exact, org.assertj.core.data.Percentage.withPercentage(1));
    }

    @Test
    void aHugeRunWithoutSpacesIsCheap() throws Exception {
        // 8 MiB without a space: tokenized whole, jtokkit needs seconds; the budget keeps it to a sample.
        String run = "a".repeat(8 << 20);
        JsonNode body = Json.mapper().createObjectNode().put("prompt", run);
        long counted = COUNTER.inputTokens("gpt-4o", body);
        long sample = o200k(run.substring(0, TokenCounter.EXACT_CHARS));
        assertThat(counted).isEqualTo(sample * (run.length() / TokenCounter.EXACT_CHARS));
    }

    @Test
    void aNullBodyCountsNothing() {
        assertThat(COUNTER.inputTokens("gpt-4o", null)).isZero();
    }

    @Test
    void aCallersLongTextsAreRememberedForItsNextTurnAndNeverSharedWithAnotherCaller() throws Exception {
        TokenCounter counter = TokenCounter.fresh();
        String history = "The quick brown fox jumps over the lazy dog, again and again, turn after turn.";
        JsonNode turn1 = json("{\"messages\":[{\"role\":\"user\",\"content\":\"" + history + "\"}]}");
        JsonNode turn2 = json("{\"messages\":[{\"role\":\"user\",\"content\":\"" + history
                + "\"},{\"role\":\"user\",\"content\":\"short\"}]}");
        long expected1 = 3 + 3 + o200k("user") + o200k(history);

        assertThat(counter.inputTokens("gpt-4o", turn1, "PROXY_KEY:k1")).isEqualTo(expected1);
        assertThat(counter.rememberedTexts()).isEqualTo(1); // the short texts are counted, not remembered
        // The next turn sends the history again: the same count, from memory.
        assertThat(counter.inputTokens("gpt-4o", turn2, "PROXY_KEY:k1"))
                .isEqualTo(expected1 + 3 + o200k("user") + o200k("short"));
        assertThat(counter.rememberedTexts()).isEqualTo(1);
        // Another caller sending the same text gets a count of its own (no hit from k1's: no timing oracle).
        assertThat(counter.inputTokens("gpt-4o", turn1, "PROXY_KEY:k2")).isEqualTo(expected1);
        assertThat(counter.rememberedTexts()).isEqualTo(2);
        // Another encoding is another count; no caller remembers nothing.
        assertThat(counter.inputTokens("gpt-4", turn1, "PROXY_KEY:k1"))
                .isEqualTo(3 + 3 + CL100K.countTokensOrdinary("user") + CL100K.countTokensOrdinary(history));
        assertThat(counter.rememberedTexts()).isEqualTo(3);
        assertThat(counter.inputTokens("gpt-4o", turn1)).isEqualTo(expected1);
        assertThat(counter.rememberedTexts()).isEqualTo(3);
    }

    @Test
    void loadingInTheBackgroundLoadsO200kWithoutACount() {
        TokenCounter counter = TokenCounter.fresh();
        assertThat(counter.loaded(EncodingType.O200K_BASE)).isFalse();

        counter.loadInBackground();

        org.awaitility.Awaitility.await()
                .atMost(java.time.Duration.ofSeconds(60))
                .until(() -> counter.loaded(EncodingType.O200K_BASE));
        assertThat(counter.loaded(EncodingType.CL100K_BASE)).isFalse();
        assertThat(counter.tokens("gpt-4o", "hello world")).isEqualTo(2);
    }

    @Test
    void loadingInTheBackgroundStartsOneThreadHoweverOftenItIsAsked() throws Exception {
        // Every engine built asks (a test suite, a context refreshed): one load, not a thread per engine.
        TokenCounter counter = TokenCounter.fresh();
        java.util.concurrent.atomic.AtomicInteger started = new java.util.concurrent.atomic.AtomicInteger();
        for (int i = 0; i < 20; i++) {
            counter.loadInBackground();
            started.set(Math.max(started.get(), loaderThreads()));
        }
        org.awaitility.Awaitility.await()
                .atMost(java.time.Duration.ofSeconds(60))
                .until(() -> counter.loaded(EncodingType.O200K_BASE));

        assertThat(started.get()).isLessThanOrEqualTo(1);
        org.awaitility.Awaitility.await()
                .atMost(java.time.Duration.ofSeconds(10))
                .until(() -> loaderThreads() == 0);
        counter.loadInBackground(); // loaded: nothing more to start
        assertThat(loaderThreads()).isZero();
    }

    private static int loaderThreads() {
        int n = 0;
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals("openai-proxy-tokenizer-load") && t.isAlive()) {
                assertThat(t.isDaemon()).isTrue();
                n++;
            }
        }
        return n;
    }
}
