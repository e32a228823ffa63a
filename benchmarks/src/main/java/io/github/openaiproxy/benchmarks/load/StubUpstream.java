package io.github.openaiproxy.benchmarks.load;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerUpgradeHandler;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http2.CleartextHttp2ServerUpgradeHandler;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * A fast local upstream that speaks OpenAI's wire format, for load tests: its own cost per request must
 * be small next to what is measured. On Netty (epoll where available); every fixed body is built once.
 *
 * <ul>
 *   <li>{@code POST .../chat/completions}: a canned {@code chat.completion} of about 1.4 KB; with
 *       {@code "stream": true} in the body, {@code ?events=N} {@code chat.completion.chunk} events (default
 *       8) then {@code data: [DONE]}, {@code ?pause_ms=P} apart (default 0). The first event leaves with the
 *       headers. Each event carries {@code stub_seq} and {@code stub_ts} (the stub's {@link System#nanoTime()}
 *       when it was written; on Linux that clock is shared by all processes), so a client can measure the
 *       delay each event got on its way.
 *   <li>{@code POST .../images/generations}: an image response with one {@code b64_json} of about
 *       {@code --image-mib} MiB (default 20), with {@code Content-Length}.
 *   <li>{@code /refuse/<status>/...}: any request under it is answered {@code <status>} with OpenAI's error body
 *       (an upstream that refuses every request: {@code base-url} {@code http://127.0.0.1:8900/refuse/503/v1}).
 *   <li>{@code GET /stub/info}: the sizes and CRC-32 of the fixed bodies, for clients that check what they
 *       received.
 * </ul>
 *
 * <p>HTTP/1.1, or HTTP/2 without TLS from the first byte (h2c prior knowledge), at most 256 streams a connection.
 *
 * <p>Run: {@code java -cp benchmarks/target/benchmarks.jar io.github.openaiproxy.benchmarks.load.StubUpstream
 * --port=8900 [--threads=2] [--image-mib=20]}. It prints {@code STUB_PORT=<port>} once it listens.
 */
public final class StubUpstream implements AutoCloseable {
    /** The path prefix of an upstream that refuses every request: {@code /refuse/503/v1/...}. */
    private static final String REFUSE = "/refuse/";

    private static final Pattern STREAM_TRUE = Pattern.compile("\"stream\"\\s*:\\s*true");

    private final EventLoopGroup group;
    private final Channel server;

    private StubUpstream(EventLoopGroup group, Channel server) {
        this.group = group;
        this.server = server;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = Args.parse(args);
        int port = Integer.parseInt(opts.getOrDefault("port", "0"));
        int threads = Integer.parseInt(opts.getOrDefault(
                "threads", Integer.toString(Runtime.getRuntime().availableProcessors())));
        int imageMib = Integer.parseInt(opts.getOrDefault("image-mib", "20"));
        StubUpstream stub = start("127.0.0.1", port, threads, imageMib);
        System.out.println("STUB_PORT=" + stub.port());
        System.out.flush();
        Runtime.getRuntime().addShutdownHook(new Thread(stub::close));
        stub.server.closeFuture().sync();
    }

    /** Starts the stub; {@code port} 0 picks a free one. */
    public static StubUpstream start(String host, int port, int threads, int imageMib) throws InterruptedException {
        Bodies bodies = new Bodies(imageMib);
        boolean epoll = Epoll.isAvailable();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(
                threads, epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
        ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channel(epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 8192)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        HttpServerCodec http1 = new HttpServerCodec();
                        // HTTP/1.1, or HTTP/2 from the first byte (h2c prior knowledge, the proxy's
                        // upstream-http-version=2): each HTTP/2 stream gets the HTTP/1.1 handlers on its own channel.
                        ch.pipeline()
                                .addLast(new CleartextHttp2ServerUpgradeHandler(
                                        http1, new HttpServerUpgradeHandler(http1, protocol -> null), http2(bodies)))
                                .addLast(new HttpObjectAggregator(16 * 1024 * 1024))
                                .addLast(new Handler(bodies));
                    }
                });
        Channel server = b.bind(new InetSocketAddress(host, port)).sync().channel();
        return new StubUpstream(group, server);
    }

    /** An HTTP/2 connection's handlers: at most {@link #H2_MAX_STREAMS} streams at once, as a CDN would allow. */
    private static ChannelHandler http2(Bodies bodies) {
        return new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline()
                        .addLast(Http2FrameCodecBuilder.forServer()
                                .initialSettings(Http2Settings.defaultSettings().maxConcurrentStreams(H2_MAX_STREAMS))
                                .build())
                        .addLast(new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                            @Override
                            protected void initChannel(Http2StreamChannel stream) {
                                stream.pipeline()
                                        .addLast(new Http2StreamFrameToHttpObjectCodec(true))
                                        .addLast(new HttpObjectAggregator(16 * 1024 * 1024))
                                        .addLast(new Handler(bodies));
                            }
                        }));
            }
        };
    }

    /** Streams one HTTP/2 connection may carry at once. */
    private static final long H2_MAX_STREAMS = 256;

    public int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    @Override
    public void close() {
        server.close().awaitUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
    }

    /** The fixed bodies, built once and sent as read-only duplicates. */
    public static final class Bodies {
        final ByteBuf chat;
        final ByteBuf image;
        final ByteBuf notFound;
        final ByteBuf models;
        final ByteBuf info;

        Bodies(int imageMib) {
            this.chat = fixed(StubBodies.chatCompletion());
            byte[] imageBytes = StubBodies.imageResponse(imageMib);
            this.image = fixedDirect(imageBytes);
            this.notFound = fixed(("{\"error\":{\"message\":\"Unknown request URL\",\"type\":\"invalid_request_error\","
                            + "\"param\":null,\"code\":\"unknown_url\"}}")
                    .getBytes(StandardCharsets.UTF_8));
            this.models = fixed(("{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o-mini\",\"object\":\"model\","
                            + "\"created\":1700000000,\"owned_by\":\"system\"}]}")
                    .getBytes(StandardCharsets.UTF_8));
            byte[] chatBytes = StubBodies.chatCompletion();
            this.info = fixed(("{\"chat_bytes\":" + chatBytes.length + ",\"chat_crc32\":" + StubBodies.crc(chatBytes)
                            + ",\"image_bytes\":" + imageBytes.length + ",\"image_crc32\":"
                            + StubBodies.crc(imageBytes) + "}")
                    .getBytes(StandardCharsets.UTF_8));
        }

        private static ByteBuf fixed(byte[] bytes) {
            return Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(bytes).asReadOnly());
        }

        private static ByteBuf fixedDirect(byte[] bytes) {
            ByteBuf b = Unpooled.directBuffer(bytes.length);
            b.writeBytes(bytes);
            return Unpooled.unreleasableBuffer(b.asReadOnly());
        }
    }

    private static final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final Bodies bodies;

        Handler(Bodies bodies) {
            this.bodies = bodies;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            QueryStringDecoder uri = new QueryStringDecoder(req.uri());
            String path = uri.path();
            if (path.startsWith(REFUSE)) {
                refuse(ctx, path, keepAlive);
                return;
            }
            if (req.method().equals(HttpMethod.POST) && path.endsWith("/chat/completions")) {
                String body = req.content().toString(StandardCharsets.UTF_8);
                if (STREAM_TRUE.matcher(body).find()) {
                    int events = intParam(uri, "events", 8);
                    long pauseMs = intParam(uri, "pause_ms", 0);
                    new EventStream(ctx, events, pauseMs, keepAlive).start();
                } else {
                    send(ctx, HttpResponseStatus.OK, bodies.chat, keepAlive, true);
                }
            } else if (req.method().equals(HttpMethod.POST) && path.endsWith("/images/generations")) {
                send(ctx, HttpResponseStatus.OK, bodies.image, keepAlive, true);
            } else if (req.method().equals(HttpMethod.GET) && path.endsWith("/models")) {
                send(ctx, HttpResponseStatus.OK, bodies.models, keepAlive, true);
            } else if (req.method().equals(HttpMethod.GET) && path.equals("/stub/info")) {
                send(ctx, HttpResponseStatus.OK, bodies.info, keepAlive, false);
            } else {
                send(ctx, HttpResponseStatus.NOT_FOUND, bodies.notFound, keepAlive, false);
            }
        }

        /** {@code /refuse/<status>/...}: that status with OpenAI's error body, an upstream that refuses all. */
        private static void refuse(ChannelHandlerContext ctx, String path, boolean keepAlive) {
            int end = path.indexOf('/', REFUSE.length());
            int status = Integer.parseInt(path.substring(REFUSE.length(), end < 0 ? path.length() : end));
            byte[] body = ("{\"error\":{\"message\":\"refused by the stub\",\"type\":\"server_error\","
                            + "\"param\":null,\"code\":null}}")
                    .getBytes(StandardCharsets.UTF_8);
            send(ctx, HttpResponseStatus.valueOf(status), Unpooled.wrappedBuffer(body), keepAlive, true);
        }

        private static int intParam(QueryStringDecoder uri, String name, int dflt) {
            List<String> v = uri.parameters().get(name);
            return v == null || v.isEmpty() ? dflt : Integer.parseInt(v.get(0));
        }

        private static void send(
                ChannelHandlerContext ctx, HttpResponseStatus status, ByteBuf body, boolean keepAlive, boolean openAi) {
            FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, body.duplicate());
            HttpHeaders h = r.headers();
            h.set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
            h.setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
            if (openAi) {
                openAiHeaders(h);
            }
            if (keepAlive) {
                h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
                ctx.writeAndFlush(r, ctx.voidPromise());
            } else {
                ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
            }
        }

        /** The headers OpenAI sends with every answer; the proxy relays some of them. */
        static void openAiHeaders(HttpHeaders h) {
            h.set("x-request-id", "req_stub0000000000000000000000000");
            h.set("openai-processing-ms", "1");
            h.set("openai-version", "2020-10-01");
            h.set("x-ratelimit-limit-requests", "10000");
            h.set("x-ratelimit-remaining-requests", "9999");
            h.set("x-ratelimit-limit-tokens", "10000000");
            h.set("x-ratelimit-remaining-tokens", "9999000");
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            System.err.println("stub: " + cause); // a broken stub must not pass for a broken proxy
            ctx.close();
        }
    }

    /** One event stream: N chunks then {@code [DONE]}, paced on the channel's event loop. */
    private static final class EventStream {
        private final ChannelHandlerContext ctx;
        private final int events;
        private final long pauseMs;
        private final boolean keepAlive;
        private int sent;

        EventStream(ChannelHandlerContext ctx, int events, long pauseMs, boolean keepAlive) {
            this.ctx = ctx;
            this.events = events;
            this.pauseMs = pauseMs;
            this.keepAlive = keepAlive;
        }

        void start() {
            HttpResponse r = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
            HttpHeaders h = r.headers();
            h.set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
            h.set(HttpHeaderNames.CACHE_CONTROL, "no-cache");
            // Tells a reverse proxy (nginx) not to buffer this response.
            h.set("X-Accel-Buffering", "no");
            Handler.openAiHeaders(h);
            HttpUtil.setTransferEncodingChunked(r, true);
            if (keepAlive) {
                h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            }
            ctx.write(r, ctx.voidPromise());
            next();
        }

        private void next() {
            if (!ctx.channel().isActive()) {
                return;
            }
            if (sent < events) {
                byte[] event = StubBodies.chunkEvent(sent, System.nanoTime());
                sent++;
                ctx.writeAndFlush(new DefaultHttpContent(Unpooled.wrappedBuffer(event)), ctx.voidPromise());
                schedule();
            } else {
                ctx.write(new DefaultHttpContent(Unpooled.wrappedBuffer(StubBodies.DONE)), ctx.voidPromise());
                if (keepAlive) {
                    ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT, ctx.voidPromise());
                } else {
                    ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(ChannelFutureListener.CLOSE);
                }
            }
        }

        private void schedule() {
            if (pauseMs <= 0) {
                next();
            } else {
                ctx.executor().schedule(this::next, pauseMs, TimeUnit.MILLISECONDS);
            }
        }
    }
}
