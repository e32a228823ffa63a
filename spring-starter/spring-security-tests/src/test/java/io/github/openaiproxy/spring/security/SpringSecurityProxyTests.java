package io.github.openaiproxy.spring.security;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.WireMockServer;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.github.openaiproxy.spring.metrics.MicrometerProxyObserver;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.CookieManager;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Comparator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The proxy behind an application's own Spring Security login, over real HTTP (embedded Tomcat, a WireMock
 * upstream). Who answers what:
 *
 * <ul>
 *   <li>Spring Security authenticates (HTTP basic, form login) and refuses wrong credentials itself (its 401);
 *   <li>the proxy sees the authenticated user through the servlet request ({@code getUserPrincipal},
 *       {@code isUserInRole}) and decides: anonymous callers get its 401 in OpenAI's shape
 *       ({@code access.anonymous=deny}), each role's policy ({@code access.role-policies}) its routes and models
 *       (403 in OpenAI's shape), and the role {@code ADMIN} the admin API.
 * </ul>
 *
 * The proxy is not reachable through MockMvc (it needs a container's asynchronous, non-blocking servlet I/O),
 * so these tests use real HTTP; {@link LoginConfigurationTests} checks the login itself with
 * spring-security-test.
 */
@SpringBootTest(
        classes = SecuredApplication.class,
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "openai.proxy.path=/ai",
            "openai.proxy.api-key=" + SpringSecurityProxyTests.SERVER_KEY,
            "openai.proxy.access.anonymous=deny",
            // CHAT users may use the small models; GUEST users may only list models.
            "openai.proxy.access.role-policies=CHAT=chat,GUEST=guests",
            "openai.proxy.policies.chat.models=gpt-4o-mini*",
            "openai.proxy.policies.guests.routes=models",
            "openai.proxy.admin.enabled=true",
            "openai.proxy.admin.role=ADMIN",
            "openai.proxy.images.store=filesystem"
        })
class SpringSecurityProxyTests {
    static final String SERVER_KEY = "sk-server-secret";
    static final String CHAT = "/v1/chat/completions";
    static final ObjectMapper JSON = new ObjectMapper();
    static final WireMockServer upstream = startUpstream();
    static final Path IMAGES = temporaryDirectory();

    static Path temporaryDirectory() {
        try {
            return Files.createTempDirectory("spring-security-images");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @LocalServerPort
    int port;

    @Autowired
    MeterRegistry meters;

    OpenAIClient sdk;

    static WireMockServer startUpstream() {
        WireMockServer server = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1"));
        server.start();
        server.stubFor(post(CHAT)
                .willReturn(
                        okJson("{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-4o-mini\","
                                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
                                + "\"logprobs\":null,\"finish_reason\":\"stop\"}]}")));
        return server;
    }

    @DynamicPropertySource
    static void upstreamUrl(DynamicPropertyRegistry registry) {
        registry.add("openai.proxy.base-url", () -> "http://127.0.0.1:" + upstream.port());
        registry.add("openai.proxy.images.directory", () -> IMAGES.toString());
    }

    @AfterAll
    static void stopUpstream() throws IOException {
        upstream.stop();
        try (Stream<Path> files = Files.walk(IMAGES)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    @BeforeEach
    void forgetCalls() {
        upstream.resetRequests();
    }

    @AfterEach
    void closeSdk() {
        if (sdk != null) {
            sdk.close();
        }
    }

    @Test
    void anAnonymousCallerGetsTheProxysUnauthorizedInOpenAisShape() throws Exception {
        HttpResponse<String> r = send(chat("gpt-4o-mini").build());

        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(r.body()).contains("invalid_api_key");
        assertThat(error(r).get("code").asText()).isEqualTo("invalid_api_key");
        upstream.verify(0, postRequestedFor(urlEqualTo(CHAT)));
    }

    @Test
    void theSdkWithoutALoginRaisesItsAuthenticationError() {
        // The SDK always sends some key; a placeholder is no credential of the proxy's.
        sdk = sdk("placeholder");
        assertThatThrownBy(() -> sdk.chat().completions().create(params("gpt-4o-mini")))
                .isInstanceOf(UnauthorizedException.class);
        upstream.verify(0, postRequestedFor(urlEqualTo(CHAT)));
    }

    @Test
    void aChatUserLoggedInWithHttpBasicIsServedWithTheServersKey() throws Exception {
        HttpResponse<String> r = send(basic(chat("gpt-4o-mini"), "alice").build());

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(r.body()).at("/choices/0/message/content").asText())
                .isEqualTo("hi");
        // The upstream gets the server's key, never the user's password.
        upstream.verify(
                1, postRequestedFor(urlEqualTo(CHAT)).withHeader("Authorization", equalTo("Bearer " + SERVER_KEY)));
    }

    @Test
    void aWrongPasswordIsRefusedBySpringSecurityBeforeTheProxy() throws Exception {
        HttpResponse<String> r = send(chat("gpt-4o-mini")
                .header("Authorization", basicHeader("alice", "wrong"))
                .build());

        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(r.headers().firstValue("WWW-Authenticate"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("Basic"));
        upstream.verify(0, postRequestedFor(urlEqualTo(CHAT)));
    }

    @Test
    void aChatUsersPolicyRefusesAModelItDoesNotAllow() throws Exception {
        HttpResponse<String> r = send(basic(chat("gpt-4o"), "alice").build());

        assertThat(r.statusCode()).isEqualTo(403);
        assertThat(error(r).get("code").asText()).isEqualTo("model_not_allowed");
        upstream.verify(0, postRequestedFor(urlEqualTo(CHAT)));
    }

    @Test
    void aGuestIsRefusedByTheProxysPolicyNotByTheLogin() throws Exception {
        HttpResponse<String> r = send(basic(chat("gpt-4o-mini"), "guest").build());

        assertThat(r.statusCode()).isEqualTo(403);
        assertThat(error(r).get("code").asText()).isEqualTo("route_not_allowed");
        upstream.verify(0, postRequestedFor(urlEqualTo(CHAT)));
        // Counted by reason and policy; the user's name is no tag.
        assertThat(meters.get(MicrometerProxyObserver.REFUSALS)
                        .tag("reason", "route_not_allowed")
                        .tag("policy", "guests")
                        .counter()
                        .count())
                .isGreaterThanOrEqualTo(1);
        assertThat(meters.find(MicrometerProxyObserver.REFUSALS).counters())
                .allSatisfy(c -> assertThat(c.getId().getTags())
                        .noneMatch(t -> t.getValue().equals("guest")));
    }

    /** A browser (its cookies) logged in as alice through the login form. */
    HttpClient loggedInBrowser() throws Exception {
        HttpClient browser = HttpClient.newBuilder()
                .cookieHandler(new CookieManager())
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
        String loginPage = browser.send(
                        HttpRequest.newBuilder(url("/login")).build(), HttpResponse.BodyHandlers.ofString())
                .body();
        Matcher csrf = Pattern.compile("name=\"_csrf\" type=\"hidden\" value=\"([^\"]+)\"")
                .matcher(loginPage);
        assertThat(csrf.find()).as("the login form's CSRF field").isTrue();
        HttpResponse<String> login = browser.send(
                HttpRequest.newBuilder(url("/login"))
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .POST(HttpRequest.BodyPublishers.ofString("username=alice&password="
                                + URLEncoder.encode(SecuredApplication.PASSWORD, StandardCharsets.UTF_8)
                                + "&_csrf=" + URLEncoder.encode(csrf.group(1), StandardCharsets.UTF_8)))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(login.statusCode()).isEqualTo(302);
        assertThat(login.headers().firstValue("Location"))
                .hasValueSatisfying(v -> assertThat(v).doesNotContain("error"));
        return browser;
    }

    @Test
    void aCrossSiteFormPostSpendsNothingWithTheUsersSessionCookieOrCachedBasicLogin() throws Exception {
        HttpClient browser = loggedInBrowser();
        // What a form on another site (enctype text/plain, so the body can be JSON) makes the browser send: the
        // login it holds (the session cookie, or HTTP basic credentials it cached), Origin and Sec-Fetch-Site.
        HttpRequest.Builder form = HttpRequest.newBuilder(url("/ai/"))
                .header("Content-Type", "text/plain")
                .header("Origin", "https://evil.example")
                .header("Sec-Fetch-Site", "cross-site")
                .POST(HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"));

        // The session cookie: Spring Security's CSRF protection refuses it.
        HttpResponse<String> withCookie = browser.send(form.build(), HttpResponse.BodyHandlers.ofString());
        assertThat(withCookie.statusCode()).isEqualTo(403);
        // Cached basic credentials are exempt from CSRF (an Authorization header): the proxy refuses the origin.
        HttpResponse<String> withBasic = send(basic(form, "alice").build());
        assertThat(withBasic.statusCode()).isEqualTo(403);
        assertThat(withBasic.body()).contains("Origin is not allowed");
        // No Origin (a browser that sends none): the cross-site request is not taken as alice's, so anonymous: 401.
        HttpResponse<String> noOrigin = send(basic(
                        HttpRequest.newBuilder(url("/ai/"))
                                .header("Content-Type", "text/plain")
                                .header("Sec-Fetch-Site", "cross-site")
                                .POST(HttpRequest.BodyPublishers.ofString(
                                        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}")),
                        "alice")
                .build());
        assertThat(noOrigin.statusCode()).isEqualTo(401);
        upstream.verify(0, postRequestedFor(urlEqualTo(CHAT)));
    }

    /**
     * The CSRF exemption README describes is for the proxy's path only: the application's own forms keep their
     * protection against a cross-site POST that carries cached HTTP basic credentials, with or without a session.
     */
    @Test
    void theApplicationsOwnPostsKeepTheirCsrfProtection() throws Exception {
        HttpRequest.Builder form = HttpRequest.newBuilder(url("/transfer"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Origin", "https://evil.example")
                .header("Sec-Fetch-Site", "cross-site")
                .POST(HttpRequest.BodyPublishers.ofString("to=mallory"));

        // Refused by the CSRF filter (403; without a session Spring's error page then asks for a login: 401).
        HttpResponse<String> withBasic = send(basic(form, "alice").build());
        assertThat(withBasic.statusCode()).as(withBasic.body()).isIn(401, 403);
        assertThat(withBasic.body()).doesNotContain("transferred");
        HttpResponse<String> withCookieAndBasic =
                loggedInBrowser().send(basic(form, "alice").build(), HttpResponse.BodyHandlers.ofString());
        assertThat(withCookieAndBasic.statusCode())
                .as(withCookieAndBasic.body())
                .isIn(401, 403);
        assertThat(withCookieAndBasic.body()).doesNotContain("transferred");
    }

    @Test
    void aFormLoginSessionIsAUserOfTheProxyAndKeepsItsCsrfProtection() throws Exception {
        HttpClient browser = loggedInBrowser();

        // Without the session's CSRF token, Spring Security refuses a forged call before the proxy.
        HttpResponse<String> forged = browser.send(chat("gpt-4o-mini").build(), HttpResponse.BodyHandlers.ofString());
        assertThat(forged.statusCode()).isEqualTo(403);
        upstream.verify(0, postRequestedFor(urlEqualTo(CHAT)));

        JsonNode token = JSON.readTree(
                browser.send(HttpRequest.newBuilder(url("/csrf")).build(), HttpResponse.BodyHandlers.ofString())
                        .body());
        HttpResponse<String> r = browser.send(
                chat("gpt-4o-mini")
                        .header(token.get("header").asText(), token.get("token").asText())
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        upstream.verify(1, postRequestedFor(urlEqualTo(CHAT)));
    }

    @Test
    void aUsersStoredImageKeepsTheProxysCacheControlNotSpringSecuritysNoCache() throws Exception {
        byte[] png = new byte[200];
        System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, 0, png, 0, 8);
        upstream.stubFor(get("/files/0.png")
                .willReturn(aResponse().withHeader("Content-Type", "image/png").withBody(png)));
        upstream.stubFor(post("/v1/images/generations")
                .willReturn(okJson("{\"created\":1,\"data\":[{\"url\":\"http://127.0.0.1:" + upstream.port()
                        + "/files/0.png\"}]}")));
        HttpResponse<String> generated = send(basic(
                        HttpRequest.newBuilder(url("/ai/images/generations"))
                                .header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString(
                                        "{\"prompt\":\"a cat\",\"model\":\"dall-e-2\"}")),
                        "root")
                .build());
        assertThat(generated.statusCode()).as(generated.body()).isEqualTo(200);
        String link = JSON.readTree(generated.body()).at("/data/0/url").asText();
        assertThat(link).startsWith("/ai/images/files/img_");

        HttpResponse<String> image =
                send(basic(HttpRequest.newBuilder(url(link)), "root").build());

        assertThat(image.statusCode()).isEqualTo(200);
        // Spring Security's HeaderWriterFilter writes its no-cache headers when the chain returns, before the proxy's
        // asynchronous answer: the image's own Cache-Control (private to its owner, kept a year) must win, as Spring
        // Security means it to when an application sets one.
        assertThat(image.headers().allValues("Cache-Control")).containsExactly("private, max-age=31536000, immutable");
        // Both write nosniff: sent once.
        assertThat(image.headers().allValues("X-Content-Type-Options")).containsExactly("nosniff");
    }

    @Test
    void theAdminRoleUsesTheAdminApiAndItsKeyWorksWithTheSdk() throws Exception {
        HttpResponse<String> created = send(basic(
                        HttpRequest.newBuilder(url("/ai/admin/keys"))
                                .header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString("{\"name\":\"ci\",\"policy\":\"chat\"}")),
                        "root")
                .build());
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        String key = JSON.readTree(created.body()).get("key").asText();
        assertThat(key).startsWith("opk-");

        HttpResponse<String> listed = send(
                basic(HttpRequest.newBuilder(url("/ai/admin/keys")), "root").build());
        assertThat(listed.statusCode()).isEqualTo(200);
        assertThat(listed.body()).contains("\"ci\"").doesNotContain(key);

        // The key the administrator created is a caller of its own, under the policy it was given.
        sdk = sdk(key);
        ChatCompletion reply = sdk.chat().completions().create(params("gpt-4o-mini"));
        assertThat(reply.choices().get(0).message().content()).hasValue("hi");
        upstream.verify(
                1, postRequestedFor(urlEqualTo(CHAT)).withHeader("Authorization", equalTo("Bearer " + SERVER_KEY)));
    }

    @Test
    void aUserWithoutTheAdminRoleGetsForbiddenFromTheAdminApi() throws Exception {
        double forbiddenBefore = adminRefusals("admin_role_required");
        double unauthorizedBefore = adminRefusals("invalid_api_key");
        HttpResponse<String> r = send(
                basic(HttpRequest.newBuilder(url("/ai/admin/keys")), "alice").build());

        assertThat(r.statusCode()).isEqualTo(403);
        HttpResponse<String> anonymous =
                send(HttpRequest.newBuilder(url("/ai/admin/keys")).build());
        assertThat(anonymous.statusCode()).isEqualTo(401);
        HttpResponse<String> wrongToken = send(HttpRequest.newBuilder(url("/ai/admin/keys"))
                .header("Authorization", "Bearer not-an-admin-token")
                .build());
        assertThat(wrongToken.statusCode()).isEqualTo(401);

        // Counted with every other refusal, by the error's code and no policy; never the user or the token.
        assertThat(adminRefusals("admin_role_required")).isEqualTo(forbiddenBefore + 1);
        assertThat(adminRefusals("invalid_api_key")).isEqualTo(unauthorizedBefore + 2);
        assertThat(meters.find(MicrometerProxyObserver.REFUSALS).counters())
                .allSatisfy(c -> assertThat(c.getId().getTags())
                        .noneMatch(t ->
                                t.getValue().equals("alice") || t.getValue().contains("not-an-admin")));
    }

    private double adminRefusals(String reason) {
        var counter = meters.find(MicrometerProxyObserver.REFUSALS)
                .tag("reason", reason)
                .tag("policy", "none")
                .counter();
        return counter == null ? 0 : counter.count();
    }

    private OpenAIClient sdk(String apiKey) {
        return OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + port + "/ai/v1")
                .apiKey(apiKey)
                .maxRetries(0)
                .build();
    }

    static ChatCompletionCreateParams params(String model) {
        return ChatCompletionCreateParams.builder()
                .model(model)
                .addUserMessage("Hi")
                .build();
    }

    HttpRequest.Builder chat(String model) {
        return HttpRequest.newBuilder(url("/ai" + CHAT))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"));
    }

    static HttpRequest.Builder basic(HttpRequest.Builder request, String user) {
        return request.header("Authorization", basicHeader(user, SecuredApplication.PASSWORD));
    }

    static String basicHeader(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    URI url(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    static HttpResponse<String> send(HttpRequest request) throws Exception {
        return HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode error(HttpResponse<String> r) throws Exception {
        return JSON.readTree(r.body()).get("error");
    }
}
