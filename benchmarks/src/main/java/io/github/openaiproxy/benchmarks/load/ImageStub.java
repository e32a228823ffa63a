package io.github.openaiproxy.benchmarks.load;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Executors;

/**
 * The upstream and the image host of the image storage benchmark, in one JDK HTTP server on 127.0.0.1 (the
 * upstream's own host, so the proxy may fetch from it): {@code POST /v1/images/generations} answers one
 * {@code url} image, {@code http://127.0.0.1:<port>/files/<n>.png?size=<bytes>}, and {@code GET /files/...}
 * serves a PNG-signed body of that size, written in 64 KiB chunks.
 *
 * <p>{@code java -cp benchmarks/target/benchmarks.jar io.github.openaiproxy.benchmarks.load.ImageStub
 * --port=19111 --size=1048576 --threads=8}
 */
public final class ImageStub {
    private ImageStub() {}

    public static void main(String[] args) throws IOException {
        Map<String, String> o = Args.parse(args);
        int port = Integer.parseInt(o.getOrDefault("port", "19111"));
        int size = Integer.parseInt(o.getOrDefault("size", "1048576"));
        int threads = Integer.parseInt(o.getOrDefault("threads", "8"));
        byte[] chunk = new byte[64 * 1024];
        new Random(1).nextBytes(chunk);
        byte[] signature = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        byte[] first = chunk.clone();
        System.arraycopy(signature, 0, first, 0, signature.length);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 1024);
        server.setExecutor(Executors.newFixedThreadPool(threads));
        long[] counter = {0};
        server.createContext("/v1/images/generations", exchange -> {
            exchange.getRequestBody().readAllBytes();
            long n;
            synchronized (counter) {
                n = ++counter[0];
            }
            String json = "{\"created\":1,\"data\":[{\"url\":\"http://127.0.0.1:" + port + "/files/" + n + ".png?size="
                    + size + "\"}]}";
            send(exchange, "application/json", json.getBytes(StandardCharsets.UTF_8));
        });
        server.createContext("/files/", exchange -> {
            String query = exchange.getRequestURI().getQuery();
            long length = query != null && query.startsWith("size=") ? Long.parseLong(query.substring(5)) : size;
            exchange.getResponseHeaders().set("Content-Type", "image/png");
            exchange.sendResponseHeaders(200, length);
            try (OutputStream out = exchange.getResponseBody()) {
                long left = length;
                boolean firstChunk = true;
                while (left > 0) {
                    int n = (int) Math.min(left, chunk.length);
                    out.write(firstChunk ? first : chunk, 0, n);
                    firstChunk = false;
                    left -= n;
                }
            }
        });
        server.start();
        System.out.println("image stub listening on " + port + ", images of " + size + " bytes");
    }

    private static void send(HttpExchange exchange, String type, byte[] body) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", type);
        exchange.sendResponseHeaders(200, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }
}
