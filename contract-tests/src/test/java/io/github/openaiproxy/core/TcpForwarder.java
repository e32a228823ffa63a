package io.github.openaiproxy.core;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A TCP forwarder on loopback to a real server, which a test stops and starts again on the same port: the
 * server "goes down" for the clients connected through it (every connection is cut, new ones are refused) and
 * comes back, while the real server keeps its data.
 */
public final class TcpForwarder implements AutoCloseable {
    private final int targetPort;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private volatile ServerSocket server;
    private int port;

    public TcpForwarder(int targetPort) {
        this.targetPort = targetPort;
    }

    /** Starts listening (on a free port the first time, on the same port afterwards); answers the port. */
    public synchronized int start() throws IOException {
        ServerSocket s = new ServerSocket();
        s.setReuseAddress(true);
        s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        port = s.getLocalPort();
        server = s;
        Thread acceptor = new Thread(() -> accept(s), "forwarder-" + port);
        acceptor.setDaemon(true);
        acceptor.start();
        return port;
    }

    /** Refuses new connections and cuts every open one. */
    public synchronized void stop() throws IOException {
        ServerSocket s = server;
        server = null;
        if (s != null) {
            s.close();
        }
        for (Socket socket : sockets) {
            socket.close();
        }
        sockets.clear();
    }

    @Override
    public void close() throws IOException {
        stop();
    }

    private void accept(ServerSocket s) {
        while (!s.isClosed()) {
            try {
                Socket client = s.accept();
                // Listed before anything else, then checked: a stop() that ran meanwhile either sees it in the
                // list or is seen here, so no connection outlives it.
                sockets.add(client);
                if (server != s) {
                    closeQuietly(client);
                    continue;
                }
                Socket target = new Socket(InetAddress.getLoopbackAddress(), targetPort);
                sockets.add(target);
                if (server != s) {
                    closeQuietly(client);
                    closeQuietly(target);
                    continue;
                }
                pipe(client, target);
                pipe(target, client);
            } catch (IOException e) {
                // closed by stop(), or the target refused: the client's connection is cut
            }
        }
    }

    private void pipe(Socket from, Socket to) {
        Thread t = new Thread(
                () -> {
                    byte[] buffer = new byte[16 * 1024];
                    try (InputStream in = from.getInputStream();
                            OutputStream out = to.getOutputStream()) {
                        int n;
                        while ((n = in.read(buffer)) >= 0) {
                            out.write(buffer, 0, n);
                            out.flush();
                        }
                    } catch (IOException e) {
                        // cut
                    } finally {
                        closeQuietly(from);
                        closeQuietly(to);
                    }
                },
                "forwarder-pipe");
        t.setDaemon(true);
        t.start();
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // already closed
        }
    }
}
