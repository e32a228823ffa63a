package io.github.openaiproxy.demo;

import static io.github.openaiproxy.demo.HttpTestClient.json;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import javax.imageio.ImageIO;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;

class ImagesTest {
    static final String SVG_URL_PREFIX = "data:image/svg+xml;base64,";

    static DemoUpstream upstream;
    static HttpTestClient http;

    @BeforeAll
    static void start() {
        upstream = DemoUpstream.start();
        http = new HttpTestClient(upstream);
    }

    @AfterAll
    static void stop() {
        upstream.close();
    }

    @Test
    void answersAnSvgDataUrlShowingDemoAndThePrompt() throws Exception {
        JsonNode body = json(http.post(
                "/v1/images/generations",
                "{\"model\":\"dall-e-3\",\"prompt\":\"A <cat> & \\\"dog\\\"\",\"size\":\"1792x1024\"}"));

        assertThat(body.get("created").isIntegralNumber()).isTrue();
        assertThat(body.get("data")).hasSize(1);
        String url = body.at("/data/0/url").asText();
        assertThat(url).startsWith(SVG_URL_PREFIX);
        String svg =
                new String(Base64.getDecoder().decode(url.substring(SVG_URL_PREFIX.length())), StandardCharsets.UTF_8);
        // Well-formed XML despite the markup characters in the prompt.
        Document doc = DocumentBuilderFactory.newInstance()
                .newDocumentBuilder()
                .parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
        assertThat(doc.getDocumentElement().getTagName()).isEqualTo("svg");
        assertThat(doc.getDocumentElement().getAttribute("width")).isEqualTo("1792");
        assertThat(doc.getDocumentElement().getTextContent()).contains("DEMO", "A <cat> & \"dog\"");
        assertThat(body.at("/data/0/revised_prompt").asText()).contains("A <cat> & \"dog\"");
    }

    @Test
    void answersBase64PngsThatDecodeAndHonoursN() throws IOException {
        JsonNode body = json(http.post(
                "/v1/images/generations",
                "{\"model\":\"dall-e-2\",\"prompt\":\"a lighthouse\",\"n\":3,\"response_format\":\"b64_json\"}"));

        assertThat(body.get("data")).hasSize(3);
        for (JsonNode image : body.get("data")) {
            assertThat(image.has("url")).isFalse();
            assertThat(image.has("revised_prompt")).as("dall-e-3 only").isFalse();
            BufferedImage png = decodePng(image.get("b64_json").asText());
            assertThat(png.getWidth()).isEqualTo(DemoPng.LONGEST_SIDE);
            assertThat(png.getHeight()).isEqualTo(DemoPng.LONGEST_SIDE);
            assertThat(whitePixels(png, png.getHeight() * 3 / 10, png.getHeight() / 2))
                    .as("the DEMO label is drawn in white across the middle band")
                    .isGreaterThan(png.getWidth() * png.getHeight() / 40);
        }
    }

    @Test
    void answersB64JsonWithUsageForGptImageModels() throws IOException {
        JsonNode body = json(http.post(
                "/v1/images/generations",
                "{\"model\":\"gpt-image-1\",\"prompt\":\"a tall tower\",\"size\":\"1024x1536\",\"quality\":\"high\"}"));

        BufferedImage png = decodePng(body.at("/data/0/b64_json").asText());
        assertThat(png.getHeight()).isEqualTo(DemoPng.LONGEST_SIDE);
        assertThat(png.getWidth()).isEqualTo(DemoPng.LONGEST_SIDE * 1024 / 1536);
        assertThat(body.get("size").asText()).isEqualTo("1024x1536");
        assertThat(body.get("quality").asText()).isEqualTo("high");
        assertThat(body.get("output_format").asText()).isEqualTo("png");
        assertThat(body.at("/usage/total_tokens").asInt()).isPositive();
    }

    @Test
    void fillsTheGptImageFieldsWhenSizeAndQualityAreAbsent() {
        JsonNode body = json(http.post("/v1/images/generations", "{\"model\":\"gpt-image-1\",\"prompt\":\"x\"}"));

        assertThat(body.get("size").asText()).isEqualTo("1024x1024");
        assertThat(body.get("quality").asText()).isEqualTo("medium");
        assertThat(body.at("/data/0/b64_json").asText()).isNotEmpty();
    }

    @Test
    void rejectsAMissingPromptAndABadN() {
        assertThat(json(http.post("/v1/images/generations", "{\"model\":\"dall-e-3\"}"))
                        .at("/error/param")
                        .asText())
                .isEqualTo("prompt");
        assertThat(json(http.post("/v1/images/generations", "{\"prompt\":\"x\",\"n\":11}"))
                        .at("/error/param")
                        .asText())
                .isEqualTo("n");
        assertThat(json(http.post("/v1/images/generations", "{\"prompt\":\"x\",\"response_format\":\"gif\"}"))
                        .at("/error/param")
                        .asText())
                .isEqualTo("response_format");
        String tooLong = "x".repeat(Images.MAX_PROMPT_LENGTH + 1);
        assertThat(json(http.post("/v1/images/generations", "{\"prompt\":\"" + tooLong + "\"}"))
                        .at("/error/code")
                        .asText())
                .isEqualTo("string_above_max_length");
    }

    private static int whitePixels(BufferedImage image, int fromRow, int toRow) {
        int count = 0;
        for (int y = fromRow; y < toRow; y++) {
            for (int x = 0; x < image.getWidth(); x++) {
                count += (image.getRGB(x, y) & 0xffffff) == 0xffffff ? 1 : 0;
            }
        }
        return count;
    }

    static BufferedImage decodePng(String base64) throws IOException {
        byte[] bytes = Base64.getDecoder().decode(base64);
        assertThat(bytes).startsWith(0x89, 'P', 'N', 'G');
        BufferedImage image = ImageIO.read(new ByteArrayInputStream(bytes));
        assertThat(image).as("a PNG that ImageIO can read").isNotNull();
        return image;
    }
}
