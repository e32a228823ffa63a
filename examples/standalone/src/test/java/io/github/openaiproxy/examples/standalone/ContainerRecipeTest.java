package io.github.openaiproxy.examples.standalone;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The container image recipe ({@code Dockerfile}) is never built here (no registry serves its base image), so
 * what it relies on is checked against the server instead: it copies the jar the build makes and runs that one,
 * sets the variables the server reads, and its health check command says healthy while the server answers
 * {@code GET /healthz} with 200 (also a server that refuses the name {@code localhost} for everything else, as a
 * deployment with {@code OPENAI_PROXY_ALLOWED_HOSTS} does) and unhealthy once it is gone.
 */
class ContainerRecipeTest {
    private static final Pattern ENV_PAIR = Pattern.compile("(\\w+)=(\"[^\"]*\"|\\S+)");

    @Test
    void copiesTheJarTheBuildMakesRunsItAsANonRootUserAndSetsWhatTheServerReads() throws Exception {
        Map<String, String> instructions = instructions();
        String finalName = between(Files.readString(Path.of("pom.xml")), "<finalName>", "</finalName>");
        List<String> copy = Arrays.asList(instructions.get("COPY").split("\\s+"));
        assertThat(copy).contains("target/" + finalName + ".jar");
        String jarInImage = copy.get(copy.size() - 1);
        assertThat(new ObjectMapper().readValue(instructions.get("ENTRYPOINT"), String[].class))
                .containsExactly("java", "-jar", jarInImage);

        assertThat(instructions.get("USER")).doesNotStartWith("0").doesNotStartWith("root");

        Map<String, String> env = new LinkedHashMap<>();
        Matcher m = ENV_PAIR.matcher(instructions.get("ENV"));
        while (m.find()) {
            env.put(m.group(1), m.group(2));
        }
        StandaloneOptions options = StandaloneOptions.parse(new String[0], env);
        assertThat(options.host()).isEqualTo("0.0.0.0");
        assertThat(instructions.get("EXPOSE")).isEqualTo(String.valueOf(options.port()));
    }

    @Test
    void theHealthCheckIsHealthyWhileTheServerAnswersAndUnhealthyWithoutIt() throws Exception {
        String command = instructions().get("HEALTHCHECK");
        String[] argv = new ObjectMapper().readValue(command.substring(command.indexOf("CMD ") + 4), String[].class);
        Map<String, String> env = Map.of(
                "OPENAI_API_KEY", "sk-test-1234567890",
                "OPENAI_PROXY_ALLOWED_HOSTS", "proxy.example.com",
                "OPENAI_PROXY_SESSIONS_STORE", "memory");
        int port;
        try (StandaloneServer server = StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", false), env)) {
            port = server.port();
            assertThat(run(argv, port)).as("exit status while the server runs").isZero();
        }
        assertThat(run(argv, port)).as("exit status once it stopped").isNotZero();
    }

    /** A server told to listen on one address (HOST) is asked there: loopback would find nothing. */
    @Test
    void theHealthCheckAsksTheAddressHostNames() throws Exception {
        String command = instructions().get("HEALTHCHECK");
        String[] argv = new ObjectMapper().readValue(command.substring(command.indexOf("CMD ") + 4), String[].class);
        Map<String, String> env =
                Map.of("OPENAI_API_KEY", "sk-test-1234567890", "OPENAI_PROXY_SESSIONS_STORE", "memory");
        // 127.0.0.2 is this machine too, but a server bound to it does not answer on 127.0.0.1.
        try (StandaloneServer server = StandaloneServer.start(new StandaloneOptions(0, "127.0.0.2", false), env)) {
            assertThat(run(argv, server.port(), "127.0.0.2"))
                    .as("HOST=127.0.0.2")
                    .isZero();
            assertThat(run(argv, server.port(), null))
                    .as("no HOST: loopback, where it does not listen")
                    .isNotZero();
        }
        // The image's own HOST=0.0.0.0 (every interface, loopback among them) is asked on loopback.
        try (StandaloneServer server = StandaloneServer.start(new StandaloneOptions(0, "127.0.0.1", false), env)) {
            assertThat(run(argv, server.port(), "0.0.0.0")).as("HOST=0.0.0.0").isZero();
        }
    }

    private static int run(String[] argv, int port) throws Exception {
        return run(argv, port, null);
    }

    private static int run(String[] argv, int port, String host) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true);
        pb.environment().put("PORT", String.valueOf(port));
        pb.environment().remove("HOST");
        if (host != null) {
            pb.environment().put("HOST", host);
        }
        Process p = pb.start();
        p.getInputStream().transferTo(OutputStream.nullOutputStream());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("health check finished").isTrue();
        return p.exitValue();
    }

    /** Each instruction's arguments, continuation lines joined, comments left out; the last of a name wins. */
    private static Map<String, String> instructions() throws Exception {
        Map<String, String> out = new LinkedHashMap<>();
        StringBuilder current = new StringBuilder();
        for (String line : Files.readAllLines(Path.of("Dockerfile"))) {
            if (line.isBlank() || line.stripLeading().startsWith("#")) {
                continue;
            }
            String part = line.strip();
            boolean continued = part.endsWith("\\");
            current.append(continued ? part.substring(0, part.length() - 1) : part)
                    .append(' ');
            if (!continued) {
                String instruction = current.toString().strip();
                int space = instruction.indexOf(' ');
                out.put(
                        instruction.substring(0, space),
                        instruction.substring(space + 1).strip());
                current.setLength(0);
            }
        }
        return out;
    }

    private static String between(String text, String start, String end) {
        int from = text.indexOf(start);
        assertThat(from).as(start).isNotNegative();
        return text.substring(from + start.length(), text.indexOf(end, from)).strip();
    }
}
