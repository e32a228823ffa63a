package io.github.openaiproxy.graphql;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.openaiproxy.core.http.ProxyRequest;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.route.RouteCall;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * The sub-requests of a GraphQL call are cancelled with it at every stage: waiting for the headers,
 * reading the body, and not yet sent. (Over HTTP, GraphQlCancellationTest; the stage between headers and
 * the end of the body is too short to hit reliably there.)
 */
class InFlightCallsTest {
    /** A route call whose sub-requests wait for the test. */
    static final class Held implements RouteCall {
        final List<CompletableFuture<ProxyResponse>> dispatched = new ArrayList<>();

        @Override
        public ProxyRequest request() {
            return ProxyRequest.builder("POST", "/graphql").build();
        }

        @Override
        public byte[] body() {
            return new byte[0];
        }

        @Override
        public io.github.openaiproxy.core.access.Identity identity() {
            return io.github.openaiproxy.core.access.Identity.anonymous("127.0.0.1", "anonymous");
        }

        @Override
        public CompletableFuture<ProxyResponse> dispatch(ProxyRequest request) {
            CompletableFuture<ProxyResponse> f = new CompletableFuture<>();
            dispatched.add(f);
            return f;
        }
    }

    /** A body that sends one piece and then waits, remembering whether it was cancelled. */
    static final class HeldBody implements Flow.Publisher<List<ByteBuffer>> {
        final AtomicBoolean cancelled = new AtomicBoolean();

        @Override
        public void subscribe(Flow.Subscriber<? super List<ByteBuffer>> s) {
            s.onSubscribe(new Flow.Subscription() {
                private boolean sent;

                @Override
                public void request(long n) {
                    if (!sent) {
                        sent = true;
                        s.onNext(List.of(ByteBuffer.wrap("{\"id\":".getBytes(StandardCharsets.UTF_8))));
                    }
                }

                @Override
                public void cancel() {
                    cancelled.set(true);
                }
            });
        }
    }

    static ProxyResponse answer(Flow.Publisher<List<ByteBuffer>> body) {
        return new ProxyResponse(200, HttpHeaders.of(Map.of(), (n, v) -> true), body, false);
    }

    static ProxyRequest chat() {
        return ProxyRequest.builder("POST", "/").build();
    }

    @Test
    void aCallWaitingForItsHeadersIsCancelled() {
        Held held = new Held();
        InFlightCalls calls = new InFlightCalls(held);
        CompletableFuture<SubRequests.Reply> reply = SubRequests.send(calls, chat());

        calls.cancel();

        assertThat(held.dispatched.get(0)).isCancelled();
        assertThat(reply).isCompletedExceptionally();
    }

    @Test
    void aBodyBeingReadIsCancelled() {
        Held held = new Held();
        InFlightCalls calls = new InFlightCalls(held);
        CompletableFuture<SubRequests.Reply> reply = SubRequests.send(calls, chat());
        HeldBody body = new HeldBody();
        held.dispatched.get(0).complete(answer(body));
        assertThat(reply).isNotDone();

        calls.cancel();

        assertThat(body.cancelled).as("the body subscription was cancelled").isTrue();
    }

    @Test
    void aBodySubscribedAfterTheCancellationIsClosedAndTheReaderToldSo() {
        Held held = new Held();
        InFlightCalls calls = new InFlightCalls(held);
        CompletableFuture<ProxyResponse> sent = calls.dispatch(chat());
        HeldBody body = new HeldBody();
        held.dispatched.get(0).complete(answer(body));
        ProxyResponse response = sent.join();

        calls.cancel();
        CompletableFuture<SubRequests.Reply> reply = SubRequests.read(response);

        assertThat(body.cancelled).isTrue();
        assertThat(reply).isCompletedExceptionally();
    }

    @Test
    void noSubRequestIsSentOnceCancelled() {
        Held held = new Held();
        InFlightCalls calls = new InFlightCalls(held);
        calls.cancel();

        assertThat(calls.dispatch(chat())).isCompletedExceptionally();
        assertThat(held.dispatched).isEmpty();
    }
}
