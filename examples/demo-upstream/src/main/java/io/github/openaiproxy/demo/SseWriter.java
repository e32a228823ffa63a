package io.github.openaiproxy.demo;

import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;

/**
 * Writes server-sent events over chunked transfer encoding, flushing each event and pausing between
 * events, so clients and the proxy's relay see tokens arrive one by one like a real model's.
 */
final class SseWriter {
    private final Duration pause;

    SseWriter(Duration pause) {
        this.pause = pause;
    }

    /**
     * Sends status 200 and the events. Returns early, ending the stream cleanly, when the thread is
     * interrupted (the server is closing); an {@link IOException} means the client went away.
     */
    void write(HttpExchange exchange, List<SseEvent> events) throws IOException {
        exchange.sendResponseHeaders(200, 0); // length 0: chunked, so each event can go out on its own
        try (OutputStream out = exchange.getResponseBody()) {
            for (int i = 0; i < events.size(); i++) {
                if (i > 0 && !pause()) {
                    return;
                }
                out.write(events.get(i).encode());
                out.flush();
            }
        }
    }

    private boolean pause() {
        if (pause.isZero()) {
            return true;
        }
        try {
            Thread.sleep(pause.toMillis(), pause.toNanosPart() % 1_000_000);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
