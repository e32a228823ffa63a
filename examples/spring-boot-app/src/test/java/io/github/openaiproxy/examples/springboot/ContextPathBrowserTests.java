package io.github.openaiproxy.examples.springboot;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.ActiveProfiles;

/**
 * The example application under a servlet context path ({@code server.servlet.context-path=/shop}), its chat page in
 * a real headless Chromium: the page at {@code /shop/chat/} talks to the proxy at {@code /shop}, not at the host's
 * root. Needs Debian's {@code chromium} and {@code chromium-driver}, as {@code BrowserChatTest} of the standalone
 * server; skipped without them unless {@code OPENAI_PROXY_BROWSER_TESTS=required}.
 */
@ActiveProfiles(DemoModeConfiguration.PROFILE)
@SpringBootTest(
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "openai.proxy.api-key=",
            "openai.proxy.cors.allowed-origins=",
            "spring.datasource.url=jdbc:h2:mem:context-path-browser;DB_CLOSE_DELAY=-1",
            "server.servlet.context-path=/shop"
        })
class ContextPathBrowserTests {
    static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");

    static ChromeDriver browser;
    static Path profile;

    @LocalServerPort
    int port;

    @BeforeAll
    static void startBrowser() throws IOException {
        boolean present = Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER);
        if (!present && "required".equals(System.getenv("OPENAI_PROXY_BROWSER_TESTS"))) {
            throw new AssertionError("browser tests are required but /usr/bin/chromium or chromedriver is missing");
        }
        Assumptions.assumeTrue(present, "Chromium not installed (apt-get install chromium chromium-driver)");
        profile = Files.createTempDirectory("chromium-profile");
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments(
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--user-data-dir=" + profile);
        browser = new ChromeDriver(
                new ChromeDriverService.Builder()
                        .usingDriverExecutable(CHROMEDRIVER.toFile())
                        .usingAnyFreePort()
                        .build(),
                options);
    }

    @AfterAll
    static void quitBrowser() throws IOException {
        if (browser != null) {
            browser.quit();
        }
        if (profile != null) {
            try (Stream<Path> files = Files.walk(profile)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    @Test
    void theChatPageUnderAContextPathTalksToTheProxyThere() {
        browser.get("http://127.0.0.1:" + port + "/shop/");
        WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(30), Duration.ofMillis(50));
        wait.until(d -> d.findElement(By.id("send")).isEnabled());
        assertThat(browser.getCurrentUrl()).isEqualTo("http://127.0.0.1:" + port + "/shop/chat/");

        browser.findElement(By.id("message")).sendKeys("Hello under a context path");
        browser.findElement(By.id("send")).click();
        WebElement outcome = wait.until(d -> {
            List<WebElement> done = d.findElements(By.cssSelector(".msg.assistant:not(.streaming)"));
            WebElement error = d.findElement(By.id("error"));
            return !done.isEmpty() ? done.get(0) : error.isDisplayed() ? error : null;
        });

        assertThat(outcome.getText()).startsWith("[demo]").contains("Hello under a context path");
    }

    /**
     * A link that names another server, a scheme-relative or backslashed host, or script as {@code ?proxy=} is not
     * followed: the page says so and keeps talking to the proxy that serves it (no alert, no call elsewhere).
     */
    @ParameterizedTest
    @ValueSource(
            strings = {
                "https://evil.example",
                "//evil.example",
                "/\\evil.example",
                "https:evil.example",
                "javascript:alert(document.domain)",
                "data:text/html,<script>alert(1)</script>"
            })
    void aLinkCannotPointTheChatElsewhere(String hostile) {
        browser.get(
                "http://127.0.0.1:" + port + "/shop/chat/?proxy=" + URLEncoder.encode(hostile, StandardCharsets.UTF_8));
        WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(30), Duration.ofMillis(50));
        wait.until(d -> d.findElement(By.id("send")).isEnabled());
        WebElement error = browser.findElement(By.id("error"));
        assertThat(error.isDisplayed()).isTrue();
        assertThat(error.getText())
                .contains("is not listed for this page")
                .contains("using http://127.0.0.1:" + port + "/shop.");

        browser.findElement(By.id("message")).sendKeys("Still here");
        browser.findElement(By.id("send")).click();
        WebElement answer = wait.until(d -> {
            List<WebElement> done = d.findElements(By.cssSelector(".msg.assistant:not(.streaming)"));
            return done.isEmpty() ? null : done.get(0);
        });
        assertThat(answer.getText()).startsWith("[demo]").contains("Still here");
        @SuppressWarnings("unchecked")
        List<String> fetched = (List<String>)
                browser.executeScript("return performance.getEntriesByType('resource').map(e => e.name);");
        assertThat(fetched)
                .contains("http://127.0.0.1:" + port + "/shop/")
                .allSatisfy(url -> assertThat(url).startsWith("http://127.0.0.1:" + port + "/"));
    }
}
