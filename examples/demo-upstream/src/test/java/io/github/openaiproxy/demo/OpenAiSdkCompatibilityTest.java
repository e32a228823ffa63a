package io.github.openaiproxy.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.helpers.ChatCompletionAccumulator;
import com.openai.helpers.ResponseAccumulator;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.embeddings.CreateEmbeddingResponse;
import com.openai.models.embeddings.EmbeddingCreateParams;
import com.openai.models.embeddings.EmbeddingModel;
import com.openai.models.images.Image;
import com.openai.models.images.ImageGenCompletedEvent;
import com.openai.models.images.ImageGenStreamEvent;
import com.openai.models.images.ImageGenerateParams;
import com.openai.models.images.ImagesResponse;
import com.openai.models.models.Model;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseStreamEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The official openai-java SDK against the demo upstream, with response validation on: every answer must
 * parse into the SDK's strict models, which proves the wire format rather than our reading of it.
 */
class OpenAiSdkCompatibilityTest {
    static DemoUpstream upstream;
    static OpenAIClient client;

    @BeforeAll
    static void start() {
        upstream = DemoUpstream.builder().tokenPause(Duration.ofMillis(2)).start();
        client = OpenAIOkHttpClient.builder()
                .baseUrl(upstream.baseUrl() + "/v1")
                .apiKey("demo")
                .maxRetries(0)
                .responseValidation(true)
                .build();
    }

    @AfterAll
    static void stop() {
        client.close();
        upstream.close();
    }

    @Test
    void chatCompletion() {
        ChatCompletion completion = client.chat()
                .completions()
                .create(ChatCompletionCreateParams.builder()
                        .model("gpt-4o-mini")
                        .addUserMessage("Hello SDK")
                        .build());

        assertThat(completion.id()).startsWith("chatcmpl-demo-");
        assertThat(completion.model()).isEqualTo("gpt-4o-mini");
        assertThat(completion.choices().get(0).message().content()).hasValue(CannedText.reply("Hello SDK"));
        assertThat(completion.choices().get(0).finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.STOP);
        assertThat(completion.usage())
                .hasValueSatisfying(u -> assertThat(u.totalTokens()).isPositive());
    }

    @Test
    void streamingChatCompletion() {
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder()
                .model("gpt-4o-mini")
                .addUserMessage("Stream to me")
                .streamOptions(
                        ChatCompletionStreamOptions.builder().includeUsage(true).build())
                .build();
        ChatCompletionAccumulator accumulator = ChatCompletionAccumulator.create();
        List<ChatCompletionChunk> chunks = new ArrayList<>();

        try (StreamResponse<ChatCompletionChunk> stream =
                client.chat().completions().createStreaming(params)) {
            stream.stream().forEach(chunk -> chunks.add(accumulator.accumulate(chunk)));
        }

        assertThat(chunks)
                .hasSize(Tokens.split(CannedText.reply("Stream to me")).size() + 3);
        ChatCompletion whole = accumulator.chatCompletion();
        assertThat(whole.choices().get(0).message().content()).hasValue(CannedText.reply("Stream to me"));
        assertThat(whole.usage())
                .hasValueSatisfying(u -> assertThat(u.completionTokens()).isPositive());
    }

    @Test
    // The SDK deprecates DALL-E's response_format, but the API still serves it and the proxy's defaults use it.
    @SuppressWarnings("deprecation")
    void imageGenerationAsUrlAndAsBase64AndForGptImage() throws Exception {
        ImagesResponse url = client.images()
                .generate(ImageGenerateParams.builder()
                        .model("dall-e-3")
                        .prompt("a red bicycle")
                        .build());
        ImagesResponse b64 = client.images()
                .generate(ImageGenerateParams.builder()
                        .model("dall-e-2")
                        .prompt("a red bicycle")
                        .n(2)
                        .responseFormat(ImageGenerateParams.ResponseFormat.B64_JSON)
                        .build());

        ImagesResponse gptImage = client.images()
                .generate(ImageGenerateParams.builder()
                        .model("gpt-image-1")
                        .prompt("a red bicycle")
                        .build());

        Image first = url.data().orElseThrow().get(0);
        assertThat(first.url()).hasValueSatisfying(u -> assertThat(u).startsWith("data:image/svg+xml;base64,"));
        assertThat(first.revisedPrompt()).isPresent();
        assertThat(b64.data().orElseThrow()).hasSize(2);
        ImagesTest.decodePng(b64.data().orElseThrow().get(1).b64Json().orElseThrow());
        ImagesTest.decodePng(gptImage.data().orElseThrow().get(0).b64Json().orElseThrow());
        assertThat(gptImage.usage())
                .hasValueSatisfying(u -> assertThat(u.outputTokens()).isPositive());
    }

    /** A GPT image model streams as OpenAI does: the partial images asked for, then the completed one. */
    @Test
    void gptImageGenerationStreamsPartialThenCompletedImages() throws Exception {
        List<ImageGenStreamEvent> events;
        try (StreamResponse<ImageGenStreamEvent> stream = client.images()
                .generateStreaming(ImageGenerateParams.builder()
                        .model("gpt-image-1")
                        .prompt("a red bicycle")
                        .partialImages(2)
                        .build())) {
            events = stream.stream().toList();
        }

        assertThat(events).hasSize(3);
        assertThat(events.subList(0, 2)).allMatch(ImageGenStreamEvent::isGenerationPartialImage);
        assertThat(events.get(1).asGenerationPartialImage().partialImageIndex()).isEqualTo(1);
        ImageGenCompletedEvent completed = events.get(2).asGenerationCompleted();
        ImagesTest.decodePng(completed.b64Json());
        assertThat(completed.usage().outputTokens()).isPositive();
        // OpenAI streams only the GPT image models.
        assertThatThrownBy(() -> client.images()
                        .generateStreaming(ImageGenerateParams.builder()
                                .model("dall-e-3")
                                .prompt("a red bicycle")
                                .build())
                        .close())
                .isInstanceOf(BadRequestException.class)
                .hasMessageContaining("Streaming is not supported");
    }

    @Test
    void embeddingsAsFloatsAndAsBase64AreTheSameVectors() {
        EmbeddingCreateParams.Builder params = EmbeddingCreateParams.builder()
                .model(EmbeddingModel.TEXT_EMBEDDING_3_SMALL)
                .inputOfArrayOfStrings(List.of("alpha", "beta"));

        CreateEmbeddingResponse floats = client.embeddings()
                .create(params.encodingFormat(EmbeddingCreateParams.EncodingFormat.FLOAT)
                        .build());
        CreateEmbeddingResponse base64 = client.embeddings()
                .create(params.encodingFormat(EmbeddingCreateParams.EncodingFormat.BASE64)
                        .build());

        assertThat(floats.data()).hasSize(2);
        assertThat(floats.data().get(0).embedding()).hasSize(1536);
        assertThat(base64.data().get(1).embedding())
                .isEqualTo(floats.data().get(1).embedding());
        assertThat(floats.usage().totalTokens()).isPositive();
    }

    @Test
    void modelsListAndRetrieve() {
        List<Model> models = client.models().list().data();
        Model one = client.models().retrieve("gpt-4o-mini");

        assertThat(models).extracting(Model::id).contains("gpt-4o-mini", "dall-e-3");
        assertThat(one.ownedBy()).isEqualTo(Models.OWNER);
        assertThatThrownBy(() -> client.models().retrieve("no-such-model"))
                .isInstanceOfSatisfying(
                        NotFoundException.class, e -> assertThat(e.code()).hasValue("model_not_found"));
    }

    @Test
    void errorsMapToTheSdksExceptions() {
        assertThatThrownBy(() -> client.images()
                        .generate(
                                ImageGenerateParams.builder().prompt("x").n(11).build()))
                .isInstanceOfSatisfying(
                        BadRequestException.class, e -> assertThat(e.param()).hasValue("n"));
    }

    @Test
    void responsesCreateAndStream() {
        ResponseCreateParams params = ResponseCreateParams.builder()
                .model("gpt-4o-mini")
                .input("Hi from the Responses API")
                .build();

        Response response = client.responses().create(params);
        ResponseAccumulator accumulator = ResponseAccumulator.create();
        StringBuilder deltas = new StringBuilder();
        try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(params)) {
            stream.stream().forEach(event -> {
                accumulator.accumulate(event);
                event.outputTextDelta().ifPresent(d -> deltas.append(d.delta()));
            });
        }

        String expected = CannedText.reply("Hi from the Responses API");
        assertThat(text(response)).isEqualTo(expected);
        assertThat(deltas).hasToString(expected);
        assertThat(text(accumulator.response())).isEqualTo(expected);
    }

    private static String text(Response response) {
        return response.output()
                .get(0)
                .message()
                .orElseThrow()
                .content()
                .get(0)
                .outputText()
                .orElseThrow()
                .text();
    }
}
