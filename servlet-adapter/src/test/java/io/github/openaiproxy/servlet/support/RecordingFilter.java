package io.github.openaiproxy.servlet.support;

import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Sits in front of the proxy and records each request exactly as the proxy received it: headers, and
 * the body bytes as the proxy read them (through its non-blocking read listener). Lets a test compare
 * what a client such as the official SDK sent with what reached the upstream.
 */
public final class RecordingFilter implements Filter {
    /** One request as the proxy saw it; {@code body} completes when the proxy has read all of it. */
    public record Received(
            String method, String uri, Map<String, List<String>> headers, CompletableFuture<byte[]> body) {
        public List<String> header(String name) {
            return headers.getOrDefault(name, List.of());
        }

        public byte[] bodyBytes() throws Exception {
            return body.get(10, TimeUnit.SECONDS);
        }
    }

    private final BlockingQueue<Received> received = new LinkedBlockingQueue<>();

    /** The next recorded request, waiting up to {@code timeout}. */
    public Received take(Duration timeout) throws InterruptedException {
        Received r = received.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (r == null) {
            throw new AssertionError("the proxy received no request within " + timeout);
        }
        return r;
    }

    @Override
    public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain)
            throws IOException, ServletException {
        HttpServletRequest http = (HttpServletRequest) req;
        Map<String, List<String>> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        for (String name : Collections.list(http.getHeaderNames())) {
            headers.put(name, Collections.list(http.getHeaders(name)));
        }
        CompletableFuture<byte[]> body = new CompletableFuture<>();
        if (http.getContentLengthLong() <= 0 && http.getHeader("Transfer-Encoding") == null) {
            body.complete(new byte[0]);
        }
        received.add(new Received(http.getMethod(), http.getRequestURI(), headers, body));
        chain.doFilter(new Wrapper(http, body), res);
    }

    private static final class Wrapper extends HttpServletRequestWrapper {
        private final CompletableFuture<byte[]> body;
        private ServletInputStream stream;

        Wrapper(HttpServletRequest request, CompletableFuture<byte[]> body) {
            super(request);
            this.body = body;
        }

        @Override
        public synchronized ServletInputStream getInputStream() throws IOException {
            if (stream == null) {
                stream = new Recording(super.getInputStream(), body);
            }
            return stream;
        }
    }

    private static final class Recording extends ServletInputStream {
        private final ServletInputStream in;
        private final CompletableFuture<byte[]> body;
        private final ByteArrayOutputStream copy = new ByteArrayOutputStream();

        Recording(ServletInputStream in, CompletableFuture<byte[]> body) {
            this.in = in;
            this.body = body;
        }

        @Override
        public boolean isFinished() {
            return in.isFinished();
        }

        @Override
        public boolean isReady() {
            return in.isReady();
        }

        @Override
        public void setReadListener(ReadListener listener) {
            in.setReadListener(new ReadListener() {
                @Override
                public void onDataAvailable() throws IOException {
                    listener.onDataAvailable();
                }

                @Override
                public void onAllDataRead() throws IOException {
                    synchronized (copy) {
                        body.complete(copy.toByteArray());
                    }
                    listener.onAllDataRead();
                }

                @Override
                public void onError(Throwable t) {
                    body.completeExceptionally(t);
                    listener.onError(t);
                }
            });
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b != -1) {
                synchronized (copy) {
                    copy.write(b);
                }
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) {
                synchronized (copy) {
                    copy.write(b, off, n);
                }
            }
            return n;
        }
    }
}
