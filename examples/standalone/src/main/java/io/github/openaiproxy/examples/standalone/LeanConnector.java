package io.github.openaiproxy.examples.standalone;

import java.lang.reflect.Field;
import java.nio.CharBuffer;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.connector.InputBuffer;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;

/**
 * Tomcat's HTTP/1.1 connector with small per-request servlet buffers: every open stream keeps its
 * request and response objects, and with them these buffers, for as long as it is open.
 *
 * <ul>
 *   <li>A 512-byte servlet output buffer per response instead of 8 KB. Tomcat keeps a byte buffer and a char
 *       buffer of that size (the char one serves {@code getWriter()}, which the proxy never uses). The proxy
 *       writes whole chunks it already holds (an event, an upstream read), which pass through a small buffer
 *       to the socket's own.
 *   <li>A 256-char reader buffer per request instead of 8 K chars (16 KB). Tomcat allocates it for
 *       {@code getReader()} whether or not it is used, at a size no setting reaches; the proxy reads bytes
 *       only. A reader still works: the buffer is refilled more often, and grows when {@code mark} needs it.
 *       It is replaced once per request object (Tomcat pools them), by reflection on Tomcat's private
 *       field; on a Tomcat without that field the request keeps its default buffer.
 * </ul>
 */
final class LeanConnector extends Connector {
    private static final System.Logger LOG = System.getLogger(LeanConnector.class.getName());
    /** The servlet output buffer of each response, in bytes. */
    static final int OUTPUT_BUFFER = 512;
    /** The char buffer of each request's reader, in chars. */
    static final int READER_BUFFER = 256;
    /** {@code InputBuffer.cb}, or {@code null} when this Tomcat has no such field. */
    private static final Field READER_CHARS = readerChars();

    LeanConnector() {
        super("HTTP/1.1");
    }

    @Override
    public Request createRequest(org.apache.coyote.Request coyoteRequest) {
        return new LeanRequest(this, coyoteRequest);
    }

    @Override
    public Response createResponse(org.apache.coyote.Response coyoteResponse) {
        return new Response(coyoteResponse, OUTPUT_BUFFER);
    }

    private static Field readerChars() {
        try {
            Field f = InputBuffer.class.getDeclaredField("cb");
            if (f.getType() != CharBuffer.class || java.lang.reflect.Modifier.isFinal(f.getModifiers())) {
                throw new NoSuchFieldException("cb is not a mutable CharBuffer");
            }
            f.setAccessible(true);
            return f;
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.log(System.Logger.Level.INFO, "Tomcat's request reader buffer keeps its default size: {0}", e);
            return null;
        }
    }

    /** A request whose reader buffer starts small. */
    static final class LeanRequest extends Request {
        LeanRequest(Connector connector, org.apache.coyote.Request coyoteRequest) {
            super(connector, coyoteRequest);
            if (READER_CHARS != null) {
                try {
                    CharBuffer small = CharBuffer.allocate(READER_BUFFER);
                    small.position(0).limit(0); // empty, as InputBuffer keeps it between reads
                    READER_CHARS.set(inputBuffer, small);
                } catch (IllegalAccessException e) {
                    // keeps the default buffer
                }
            }
        }

        /** The capacity of the reader's char buffer (tests). */
        int readerBufferCapacity() throws IllegalAccessException {
            return READER_CHARS == null ? -1 : ((CharBuffer) READER_CHARS.get(inputBuffer)).capacity();
        }
    }
}
