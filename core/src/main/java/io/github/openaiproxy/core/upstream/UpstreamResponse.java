package io.github.openaiproxy.core.upstream;

import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Flow;

/**
 * An upstream answer whose headers have arrived. The body has not been read: its publisher reads from
 * the connection on demand, and cancelling its subscription releases the connection.
 *
 * @param status the HTTP status
 * @param headers the response headers
 * @param body the body, readable once
 */
public record UpstreamResponse(int status, HttpHeaders headers, Flow.Publisher<List<ByteBuffer>> body) {}
