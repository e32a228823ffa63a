package io.github.openaiproxy.examples.standalone;

import java.util.Map;

/**
 * How the standalone server was asked to run, from its command line and environment.
 *
 * @param port the port to listen on ({@code PORT}, default 8787; 0 picks a free one)
 * @param host the address to bind ({@code HOST}, default {@code 127.0.0.1}: only this machine)
 * @param demo whether to start the bundled fake upstream
 */
record StandaloneOptions(int port, String host, boolean demo) {
    static final int DEFAULT_PORT = 8787;
    /** Loopback unless told otherwise: a proxy holding a key is not for the network by accident. */
    static final String DEFAULT_HOST = "127.0.0.1";

    /**
     * Reads {@code --demo} (always demo), {@code --demo-if-no-key} (demo only when neither {@code OPENAI_API_KEY}
     * nor a named upstream's keys are set) and {@code --port=N} from the arguments, {@code PORT} and {@code HOST} from the
     * environment. Demo mode is only ever started by one of the two flags.
     */
    static StandaloneOptions parse(String[] args, Map<String, String> env) {
        boolean demo = false;
        Integer port = null;
        for (String arg : args) {
            if (arg.equals("--demo")) {
                demo = true;
            } else if (arg.equals("--demo-if-no-key")) {
                demo = demo || !hasKey(env);
            } else if (arg.startsWith("--port=")) {
                port = parsePort(arg.substring("--port=".length()), "--port");
            } else if (arg.equals("--help") || arg.equals("-h")) {
                throw new IllegalArgumentException("usage");
            } else {
                throw new IllegalArgumentException("unknown argument: " + arg);
            }
        }
        if (port == null) {
            String p = env.get("PORT");
            port = p == null || p.isBlank() ? DEFAULT_PORT : parsePort(p, "PORT");
        }
        String host = env.get("HOST");
        return new StandaloneOptions(port, host == null || host.isBlank() ? DEFAULT_HOST : host.strip(), demo);
    }

    /**
     * Whether the environment gives the proxy a key of its own: {@code OPENAI_API_KEY}, or a named upstream's
     * {@code OPENAI_PROXY_UPSTREAMS_<NAME>_KEYS} (demo mode must never run beside real keys).
     */
    static boolean hasKey(Map<String, String> env) {
        String key = env.get("OPENAI_API_KEY");
        if (key != null && !key.isBlank()) {
            return true;
        }
        return env.entrySet().stream()
                .anyMatch(e -> e.getKey().startsWith("OPENAI_PROXY_UPSTREAMS_")
                        && e.getKey().endsWith("_KEYS")
                        && e.getValue() != null
                        && !e.getValue().isBlank());
    }

    private static int parsePort(String value, String name) {
        try {
            int p = Integer.parseInt(value.strip());
            if (p < 0 || p > 65535) {
                throw new NumberFormatException();
            }
            return p;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " must be a port number (0-65535), got " + value);
        }
    }
}
