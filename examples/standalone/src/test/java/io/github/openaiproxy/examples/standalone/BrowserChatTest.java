package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The chat page in a real headless Chromium: the page is served from one origin, the proxy (demo mode)
 * listens on another, so CORS is exercised the way a browser does it.
 *
 * <p>Needs Debian's {@code chromium} and {@code chromium-driver}; skipped without them unless
 * {@code OPENAI_PROXY_BROWSER_TESTS=required} (set by CI), which turns a missing browser into a failure.
 *
 * <p>One browser serves the whole class: starting Chromium and its driver took 4 to 8 s of a loaded two-core
 * machine, more than most tests' own work. Each test still has a page server and a proxy of its own, so its
 * origins (ports) are new to the browser; after each test the browser forgets what those origins stored and gets
 * its window size back.
 */
class BrowserChatTest {
    static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    static final Path ARTIFACTS = Path.of("target", "browser");

    HttpServer pageServer;
    /** What the served page lists in {@code <meta name="openai-proxy-urls">}: the proxy, unless a test says. */
    volatile boolean pageListsTheProxy = true;

    StandaloneServer proxy;
    static ChromeDriver browser;
    static Path profile;
    /** The window's size as started, given back after a test that changed it. */
    static Dimension windowSize;

    @BeforeAll
    static void startBrowser() throws IOException {
        boolean present = Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER);
        if (!present && "required".equals(System.getenv("OPENAI_PROXY_BROWSER_TESTS"))) {
            throw new AssertionError("browser tests are required but /usr/bin/chromium or chromedriver is missing");
        }
        Assumptions.assumeTrue(present, "Chromium not installed (apt-get install chromium chromium-driver)");
        Files.createDirectories(ARTIFACTS);
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        profile = Files.createTempDirectory("chromium-profile");
        options.addArguments(
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,900",
                "--user-data-dir=" + profile);
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort()
                .build();
        browser = new ChromeDriver(service, options);
        windowSize = browser.manage().window().getSize();
    }

    @AfterAll
    static void quitBrowser() throws IOException {
        if (browser != null) {
            browser.quit();
            browser = null;
        }
        if (profile != null) {
            deleteRecursively(profile);
        }
    }

    @BeforeEach
    void startPage() throws IOException {
        pageServer = startPageServer();
    }

    @AfterEach
    void stop() throws IOException {
        try {
            if (browser != null) {
                // Nothing of this test's origins is left for the next test: storage, cookies and cache alike.
                browser.get("about:blank");
                List<String> origins = new java.util.ArrayList<>(List.of(pageOrigin()));
                if (proxy != null) {
                    origins.add("http://127.0.0.1:" + proxy.port());
                    origins.add("http://localhost:" + proxy.port());
                }
                for (String origin : origins) {
                    browser.executeCdpCommand(
                            "Storage.clearDataForOrigin", Map.of("origin", origin, "storageTypes", "all"));
                }
                browser.executeCdpCommand("Network.clearBrowserCache", Map.of());
                browser.manage().deleteAllCookies();
                browser.manage().window().setSize(windowSize);
            }
        } finally {
            if (proxy != null) {
                proxy.close();
            }
            if (pageServer != null) {
                pageServer.stop(0);
            }
        }
    }

    @Test
    void streamsTheAnswerTokenByTokenAndShowsAGeneratedImage() throws Exception {
        startProxyAllowing(pageOrigin());
        openPage();

        // Record every change of the answer's text, with the time it happened.
        js("window.__answerLengths = [];"
                + "new MutationObserver(() => {"
                + "  const a = document.querySelector('[data-testid=\"assistant streaming\"], .msg.assistant');"
                + "  if (a) window.__answerLengths.push(a.textContent.length);"
                + "}).observe(document.getElementById('log'), {subtree: true, childList: true, characterData: true});");
        browser.findElement(By.id("message")).sendKeys("Tell me about streams");
        browser.findElement(By.id("send")).click();

        WebElement answer = waitFor().until(d -> {
            List<WebElement> done = d.findElements(By.cssSelector(".msg.assistant:not(.streaming)"));
            return done.isEmpty() ? null : done.get(0);
        });
        assertThat(answer.getText()).startsWith("[demo]").contains("Tell me about streams");
        assertThat(browser.findElement(By.id("error")).isDisplayed()).isFalse();
        @SuppressWarnings("unchecked")
        List<Long> lengths = (List<Long>) js("return window.__answerLengths;");
        long distinctPartials = lengths.stream()
                .filter(l -> l > 0 && l < answer.getText().length())
                .distinct()
                .count();
        // Incremental: the page showed several partial answers before the whole one.
        assertThat(distinctPartials).as("partial renderings %s", lengths).isGreaterThanOrEqualTo(3);

        browser.findElement(By.id("image-prompt")).sendKeys("a lighthouse at dusk");
        browser.findElement(By.id("generate")).click();
        WebElement image = waitFor().until(d -> {
            List<WebElement> imgs = d.findElements(By.cssSelector("img[data-testid=generated-image]"));
            return imgs.isEmpty() ? null : imgs.get(0);
        });
        waitFor().until(d -> ((Number) js("return arguments[0].naturalWidth;", image)).intValue() > 0);

        screenshot("chat-desktop.png");
        browser.manage().window().setSize(new Dimension(390, 844));
        Number overflow = (Number) js("return document.documentElement.scrollWidth - window.innerWidth;");
        assertThat(overflow.intValue())
                .as("no sideways scrolling on a phone-sized screen")
                .isLessThanOrEqualTo(0);
        screenshot("chat-narrow.png");
    }

    @Test
    void thePageTheProxyServesTalksToItsOwnOrigin() throws Exception {
        // As README's "Two commands" has it: demo mode with its default origins, the page opened from the proxy
        // itself with no ?proxy= and nothing in the settings field.
        startProxy(Map.of("OPENAI_PROXY_SESSIONS_STORE", "memory"));
        browser.get("http://localhost:" + proxy.port() + "/");
        waitFor().until(d -> d.findElement(By.id("send")).isEnabled());
        assertThat(browser.getCurrentUrl()).isEqualTo("http://localhost:" + proxy.port() + "/chat/");

        browser.findElement(By.id("message")).sendKeys("Hello from the same origin");
        browser.findElement(By.id("send")).click();
        WebElement answer = waitFor().until(d -> {
            List<WebElement> done = d.findElements(By.cssSelector(".msg.assistant:not(.streaming)"));
            return done.isEmpty() ? null : done.get(0);
        });
        assertThat(answer.getText()).startsWith("[demo]").contains("Hello from the same origin");
        assertThat(browser.findElement(By.id("error")).isDisplayed()).isFalse();

        browser.findElement(By.id("image-prompt")).sendKeys("a lighthouse at dusk");
        browser.findElement(By.id("generate")).click();
        WebElement image = waitFor().until(d -> {
            List<WebElement> imgs = d.findElements(By.cssSelector("img[data-testid=generated-image]"));
            return imgs.isEmpty() ? null : imgs.get(0);
        });
        waitFor().until(d -> ((Number) js("return arguments[0].naturalWidth;", image)).intValue() > 0);
        assertThat(browser.findElement(By.id("error")).isDisplayed()).isFalse();
        screenshot("chat-same-origin.png");
    }

    @Test
    void anImageTheProxyStoredLoadsFromTheProxysOriginNotThePages() throws Exception {
        // An upstream whose image link the proxy may fetch (its own host): the answer then carries the proxy's
        // relative link /images/files/img_....png, which is the proxy's, on another origin than the page.
        byte[] png = java.util.Base64.getDecoder()
                .decode(
                        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==");
        HttpServer upstream = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        String base = "http://127.0.0.1:" + upstream.getAddress().getPort();
        upstream.createContext("/v1/images/generations", exchange -> {
            exchange.getRequestBody().readAllBytes();
            byte[] body = ("{\"created\":1,\"data\":[{\"url\":\"" + base + "/picture.png\"}]}")
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        upstream.createContext("/picture.png", exchange -> {
            exchange.getResponseHeaders().set("Content-Type", "image/png");
            exchange.sendResponseHeaders(200, png.length);
            exchange.getResponseBody().write(png);
            exchange.close();
        });
        upstream.start();
        Path images = Files.createTempDirectory("proxy-images");
        try {
            startProxy(Map.of(
                    "OPENAI_API_KEY",
                    "sk-test-1234567890",
                    "OPENAI_BASE_URL",
                    base,
                    "OPENAI_PROXY_ALLOWED_ORIGINS",
                    pageOrigin(),
                    "OPENAI_PROXY_SESSIONS_STORE",
                    "memory",
                    "OPENAI_PROXY_IMAGES_STORE",
                    "filesystem",
                    "OPENAI_PROXY_IMAGES_DIRECTORY",
                    images.toString()));
            openPage();
            browser.findElement(By.id("image-prompt")).sendKeys("a lighthouse at dusk");
            browser.findElement(By.id("generate")).click();
            WebElement image = waitFor().until(d -> {
                List<WebElement> imgs = d.findElements(By.cssSelector("img[data-testid=generated-image]"));
                return imgs.isEmpty() ? null : imgs.get(0);
            });
            assertThat(image.getAttribute("src"))
                    .startsWith("http://127.0.0.1:" + proxy.port() + "/images/files/img_")
                    .endsWith(".png");
            waitFor().until(d -> ((Number) js("return arguments[0].naturalWidth;", image)).intValue() > 0);
        } finally {
            upstream.stop(0);
            deleteRecursively(images);
        }
    }

    @Test
    void aPageFromAnOriginThatIsNotAllowedIsBlockedAndSaysSo() throws Exception {
        startProxyAllowing("https://some-other-app.example");
        openPage();
        browser.findElement(By.id("message")).sendKeys("Hello?");
        browser.findElement(By.id("send")).click();

        WebElement error = waitFor().until(d -> {
            WebElement e = d.findElement(By.id("error"));
            return e.isDisplayed() ? e : null;
        });
        assertThat(error.getText()).contains("Could not reach the proxy").contains("CORS");
        assertThat(browser.findElement(By.cssSelector(".msg.assistant")).getText())
                .isEqualTo("No answer.");
        screenshot("chat-blocked.png");
    }

    @Test
    void aProxyUrlInALinkThatThePageDoesNotListIsIgnored() throws Exception {
        // A link to the page with ?proxy=<someone else's server>: the page must keep talking to its own origin.
        pageListsTheProxy = false;
        startProxyAllowing(pageOrigin());
        openPage();

        WebElement notice = waitFor().until(d -> {
            WebElement e = d.findElement(By.id("error"));
            return e.isDisplayed() ? e : null;
        });
        assertThat(notice.getText())
                .contains("http://127.0.0.1:" + proxy.port())
                .contains("not listed")
                .contains("using " + pageOrigin());
        browser.findElement(By.id("message")).sendKeys("Hello?");
        browser.findElement(By.id("send")).click();

        // The page's own origin (the static server) has no POST /: its 404, not the listed proxy's answer.
        WebElement error = waitFor().until(d -> {
            WebElement e = d.findElement(By.id("error"));
            return e.isDisplayed() && e.getText().contains("answered") ? e : null;
        });
        assertThat(error.getText()).contains("The proxy answered 404");
        assertThat(browser.findElement(By.cssSelector(".msg.assistant")).getText())
                .isEqualTo("No answer.");
    }

    private void startProxyAllowing(String origin) throws Exception {
        startProxy(Map.of("OPENAI_PROXY_ALLOWED_ORIGINS", origin, "OPENAI_PROXY_SESSIONS_STORE", "memory"));
    }

    private void startProxy(Map<String, String> env) throws Exception {
        // Demo mode unless the test names its own upstream.
        proxy = StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", !env.containsKey("OPENAI_BASE_URL")), env);
    }

    private void openPage() {
        browser.get(pageOrigin() + "/chat/index.html?proxy=http://127.0.0.1:" + proxy.port());
        waitFor().until(d -> d.findElement(By.id("send")).isEnabled());
    }

    private String pageOrigin() {
        return "http://127.0.0.1:" + pageServer.getAddress().getPort();
    }

    private WebDriverWait waitFor() {
        return new WebDriverWait(browser, Duration.ofSeconds(30), Duration.ofMillis(50));
    }

    private Object js(String script, Object... args) {
        return ((JavascriptExecutor) browser).executeScript(script, args);
    }

    private void screenshot(String name) throws IOException {
        File shot = ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE);
        Files.copy(shot.toPath(), ARTIFACTS.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }

    /** A plain static server for the page, on its own origin; the page lists the proxy if asked to. */
    private HttpServer startPageServer() throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/chat/", exchange -> {
            String name = exchange.getRequestURI().getPath().substring("/chat/".length());
            try (InputStream in = BrowserChatTest.class
                    .getClassLoader()
                    .getResourceAsStream("META-INF/resources/chat/" + (name.isEmpty() ? "index.html" : name))) {
                if (in == null || name.contains("..")) {
                    exchange.sendResponseHeaders(404, -1);
                    exchange.close();
                    return;
                }
                byte[] body = in.readAllBytes();
                if (name.isEmpty() || name.equals("index.html")) {
                    String listed = pageListsTheProxy && proxy != null ? "http://127.0.0.1:" + proxy.port() : "";
                    body = new String(body, java.nio.charset.StandardCharsets.UTF_8)
                            .replace(
                                    "<meta name=\"openai-proxy-urls\" content=\"\">",
                                    "<meta name=\"openai-proxy-urls\" content=\"" + listed + "\">")
                            .getBytes(java.nio.charset.StandardCharsets.UTF_8);
                }
                String type = name.endsWith(".js")
                        ? "text/javascript"
                        : name.endsWith(".css") ? "text/css" : "text/html; charset=utf-8";
                exchange.getResponseHeaders().set("Content-Type", type);
                exchange.sendResponseHeaders(200, body.length);
                exchange.getResponseBody().write(body);
            }
            exchange.close();
        });
        server.start();
        return server;
    }

    private static void deleteRecursively(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder())
                    .forEach(p -> p.toFile().delete());
        }
    }
}
