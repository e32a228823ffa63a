package io.github.openaiproxy.benchmarks.load;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An event-stream client that holds thousands of streams on one selector thread (a few KB each), and
 * records for every stream what arrived and when: the time to the first event, each event's delay since
 * the stub wrote it ({@code stub_ts}), and whether an event ever arrived split over two socket reads or
 * together with another event in one read (coalesced).
 */
final class SseClient implements AutoCloseable {
    private static final byte[] DONE_EVENT = StubBodies.DONE;
    private static final byte[] TS_FIELD = "\"stub_ts\":".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] SEQ_FIELD = "\"stub_seq\":".getBytes(StandardCharsets.US_ASCII);

    private final Selector selector;
    private final Thread thread;
    private final Queue<Stream> toOpen = new ConcurrentLinkedQueue<>();
    private final ByteBuffer readBuffer = ByteBuffer.allocateDirect(64 * 1024);
    private final AtomicInteger finished = new AtomicInteger();
    private volatile boolean running = true;

    SseClient() {
        try {
            selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        thread = new Thread(this::loop, "sse-client");
        thread.setDaemon(true);
        thread.start();
    }

    /** Builds the bytes of a streaming request on a connection of its own. */
    static byte[] request(InetSocketAddress to, String pathAndQuery, byte[] body) {
        return request(to, pathAndQuery, body, false);
    }

    /** Builds the bytes of a streaming request; with {@code keepAlive} the connection serves the next one. */
    static byte[] request(InetSocketAddress to, String pathAndQuery, byte[] body, boolean keepAlive) {
        String head = "POST " + pathAndQuery + " HTTP/1.1\r\nHost: " + to.getHostString() + ":" + to.getPort()
                + "\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: "
                + body.length + "\r\nConnection: " + (keepAlive ? "keep-alive" : "close") + "\r\n\r\n";
        byte[] h = head.getBytes(StandardCharsets.ISO_8859_1);
        byte[] r = Arrays.copyOf(h, h.length + body.length);
        System.arraycopy(body, 0, r, h.length, body.length);
        return r;
    }

    /** Opens a stream (any thread); it connects and sends on the client's thread. */
    Stream open(InetSocketAddress to, byte[] request, int expectedEvents, boolean recordDelays) {
        Stream s = new Stream(to, request, expectedEvents, recordDelays);
        toOpen.add(s);
        selector.wakeup();
        return s;
    }

    /**
     * Opens {@code count} streams one after the other on one keep-alive connection, as SDKs and browsers
     * reuse connections: each request is sent when the previous response has ended. The first stream of
     * the sequence also pays for the new connection.
     */
    List<Stream> openSequence(InetSocketAddress to, byte[] keepAliveRequest, int count, int expectedEvents) {
        List<Stream> seq = new java.util.ArrayList<>();
        for (int i = 0; i < count; i++) {
            seq.add(new Stream(to, keepAliveRequest, expectedEvents, true));
        }
        for (int i = 0; i + 1 < count; i++) {
            seq.get(i).next = seq.get(i + 1);
        }
        seq.get(0).firstOnConnection = true;
        toOpen.add(seq.get(0));
        selector.wakeup();
        return seq;
    }

    /** How many streams have ended (completed or failed). */
    int finished() {
        return finished.get();
    }

    @Override
    public void close() {
        running = false;
        selector.wakeup();
        try {
            thread.join(5000);
            for (SelectionKey k : selector.keys()) {
                k.channel().close();
            }
            selector.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            // closing anyway
        }
    }

    private void loop() {
        while (running) {
            try {
                selector.select(50);
                Stream s;
                while ((s = toOpen.poll()) != null) {
                    connect(s);
                }
                Iterator<SelectionKey> it = selector.selectedKeys().iterator();
                while (it.hasNext()) {
                    SelectionKey k = it.next();
                    it.remove();
                    Stream st = (Stream) k.attachment();
                    try {
                        if (!k.isValid()) {
                            continue;
                        }
                        if (k.isConnectable()) {
                            st.ch.finishConnect();
                            sendRequest(st, k);
                        } else if (k.isWritable()) {
                            sendRequest(st, k);
                        } else if (k.isReadable()) {
                            read(st, k);
                        }
                    } catch (IOException | RuntimeException e) {
                        fail(st, k, e.toString());
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private void connect(Stream s) {
        try {
            SocketChannel ch = SocketChannel.open();
            ch.configureBlocking(false);
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            s.ch = ch;
            if (ch.connect(s.to)) {
                sendRequest(s, ch.register(selector, 0, s));
            } else {
                ch.register(selector, SelectionKey.OP_CONNECT, s);
            }
        } catch (IOException | RuntimeException e) {
            fail(s, null, "connect: " + e);
        }
    }

    private void sendRequest(Stream s, SelectionKey k) throws IOException {
        if (s.sentAt == 0) {
            s.sentAt = System.nanoTime();
        }
        s.ch.write(s.request);
        k.interestOps(s.request.hasRemaining() ? SelectionKey.OP_WRITE : SelectionKey.OP_READ);
    }

    private void read(Stream s, SelectionKey k) throws IOException {
        readBuffer.clear();
        int n = s.ch.read(readBuffer);
        long now = System.nanoTime();
        if (n < 0) {
            boolean complete = s.parser.closed();
            if (complete) {
                done(s, k);
            } else {
                fail(s, k, "closed before the response ended");
            }
            return;
        }
        readBuffer.flip();
        s.reads++;
        s.readAt = now;
        s.eventsThisRead = 0;
        s.parser.feed(readBuffer);
        if (s.parser.isDone()) {
            done(s, k);
        }
    }

    private void done(Stream s, SelectionKey k) throws IOException {
        s.complete = true;
        s.status = s.parser.status();
        s.ended = true;
        finished.incrementAndGet();
        Stream n = s.next;
        if (n != null) {
            // The next request of the sequence, on the same connection.
            n.ch = s.ch;
            k.attach(n);
            sendRequest(n, k);
        } else {
            k.cancel();
            s.ch.close();
        }
    }

    private void fail(Stream s, SelectionKey k, String why) {
        if (s.ended) {
            return;
        }
        for (Stream n = s.next; n != null; n = n.next) {
            n.error = "not sent: an earlier stream on its connection failed";
            n.ended = true;
            finished.incrementAndGet();
        }
        s.error = why;
        if (k != null) {
            k.cancel();
        }
        try {
            if (s.ch != null) {
                s.ch.close();
            }
        } catch (IOException e) {
            // gone anyway
        }
        s.ended = true;
        finished.incrementAndGet();
    }

    /** One stream and what it received. Written by the client's thread; read once {@link #ended} is set. */
    static final class Stream implements ResponseParser.Listener {
        final InetSocketAddress to;
        final ByteBuffer request;
        final int expectedEvents;
        final long[] delays;
        final ResponseParser parser = new ResponseParser(this);
        SocketChannel ch;
        Stream next;
        boolean firstOnConnection;
        long sentAt;
        long readAt;
        int reads;
        int eventsThisRead;

        volatile boolean ended;
        volatile boolean complete;
        volatile int status;
        volatile String error;
        volatile int events;
        volatile long firstEventAt;
        boolean sawDone;
        int split;
        int coalesced;
        int outOfOrder;
        int lastSeq = -1;
        int delayCount;

        private byte[] pending = new byte[1024];
        private int pendingLen;
        private int pendingFirstRead = -1;

        Stream(InetSocketAddress to, byte[] request, int expectedEvents, boolean recordDelays) {
            this.to = to;
            this.request = ByteBuffer.wrap(request);
            this.expectedEvents = expectedEvents;
            this.delays = recordDelays ? new long[expectedEvents + 1] : null;
        }

        /** Whether every expected chunk event and then {@code [DONE]} arrived, and the response ended. */
        boolean receivedAll() {
            return complete && status == 200 && sawDone && events == expectedEvents + 1 && outOfOrder == 0;
        }

        long timeToFirstEventNanos() {
            return firstEventAt - sentAt;
        }

        long[] delays() {
            return delays == null ? new long[0] : Arrays.copyOf(delays, delayCount);
        }

        @Override
        public void onHeaders(int status, Map<String, String> headers) {
            this.status = status;
        }

        @Override
        public void onBody(ByteBuffer body) {
            while (body.hasRemaining()) {
                if (pendingLen == 0) {
                    pendingFirstRead = reads;
                }
                if (pendingLen == pending.length) {
                    pending = Arrays.copyOf(pending, pending.length * 2);
                }
                byte b = body.get();
                pending[pendingLen++] = b;
                if (b == '\n' && pendingLen >= 2 && pending[pendingLen - 2] == '\n') {
                    event();
                }
            }
        }

        private void event() {
            if (pendingFirstRead != reads) {
                split++;
            }
            if (++eventsThisRead > 1) {
                coalesced++;
            }
            if (events == 0) {
                firstEventAt = readAt;
            }
            if (pendingLen == DONE_EVENT.length && Arrays.equals(pending, 0, pendingLen, DONE_EVENT, 0, pendingLen)) {
                sawDone = true;
            } else {
                long seq = number(SEQ_FIELD);
                if (seq != lastSeq + 1 || sawDone) {
                    outOfOrder++;
                }
                lastSeq = (int) seq;
                if (delays != null && delayCount < delays.length) {
                    long ts = number(TS_FIELD);
                    if (ts > 0) {
                        delays[delayCount++] = readAt - ts;
                    }
                }
            }
            events++;
            pendingLen = 0;
        }

        private long number(byte[] field) {
            outer:
            for (int i = 0; i + field.length < pendingLen; i++) {
                for (int j = 0; j < field.length; j++) {
                    if (pending[i + j] != field[j]) {
                        continue outer;
                    }
                }
                long v = 0;
                for (int p = i + field.length; p < pendingLen && pending[p] >= '0' && pending[p] <= '9'; p++) {
                    v = v * 10 + (pending[p] - '0');
                }
                return v;
            }
            return -1;
        }

        @Override
        public void onEnd() {}
    }
}
