package io.github.openaiproxy.core.session;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.access.Identity;
import io.github.openaiproxy.core.error.ProxyError;
import io.github.openaiproxy.core.flow.Prefetch;
import io.github.openaiproxy.core.http.ProxyResponse;
import io.github.openaiproxy.core.images.Images;
import io.github.openaiproxy.core.internal.Failures;
import io.github.openaiproxy.core.internal.HeaderMap;
import io.github.openaiproxy.core.internal.Internal;
import io.github.openaiproxy.core.internal.Json;
import io.github.openaiproxy.core.internal.Occasional;
import io.github.openaiproxy.core.route.CustomRoute;
import java.io.IOException;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Chats in sessions, for the engine: takes {@code sessionId} and {@code includeHistory} out of a
 * {@code POST /} chat body, checks the session, adds its history as context when asked, and records the
 * turn once the reply is complete.
 *
 * <p>What is recorded: the request's messages after its last {@code assistant} message (the new user
 * message, with a system prompt on a first turn), then the assistant's reply (the first choice), as one
 * atomic append when the reply is complete. So each turn's messages stay together in the session's order
 * even when many turns run at once, and a failed call (upstream error, broken stream, client gone)
 * records nothing. A non-streamed reply is recorded before it is answered; a streamed one is relayed
 * event by event as it arrives and recorded before the stream is closed, so a client that reads the
 * history after the reply always finds the turn.
 *
 * <p>Owners: a session created by an identified caller belongs to it ({@link Identity#ownerId()}); to any
 * other caller it does not exist, on every route and in a chat turn (404, the same answer as for an unknown
 * id). A session created anonymously has no owner and stays usable by anyone who holds its id, identified or
 * not: the unguessable id is the capability, as before sessions had owners.
 *
 * <p>Bounds ({@link SessionConfig}): a new message over {@code maxMessageSize} is refused (413) before
 * the upstream call, and so is every turn of a session that holds {@code maxSessionSize} bytes; nothing
 * stored is dropped. A reply is relayed whole or is an error, never cut: a reply too large to record
 * reaches the client whole and {@link #REPLY_NOT_RECORDED} is recorded in its place. When the queue of a
 * blocking store is full, a turn is refused with 503 and {@code Retry-After}; a reply whose recording
 * finds the queue full is relayed and not recorded (logged as an error).
 */
@Internal
public final class ChatSessions {
    /** The body field that names the session. */
    public static final String SESSION_ID = "sessionId";
    /**
     * The most messages one turn records (the request's after its last assistant message, each a row of a JDBC
     * store): a turn of more is refused with 413 {@code session_turn_too_large} before any upstream call. The byte
     * caps alone let a 9 MB body of one-letter messages write 300,000 rows. The in-memory store keeps no more per
     * session by default.
     */
    public static final int MAX_TURN_MESSAGES = 1_000;

    /** The body field that asks for (or refuses) the stored history as context. */
    public static final String INCLUDE_HISTORY = "includeHistory";
    /** Response header with the id of the recorded assistant message. */
    public static final String MESSAGE_ID_HEADER = SessionHeaders.MESSAGE_ID;
    /** Response header with the timestamp of the recorded assistant message (non-streamed replies). */
    public static final String MESSAGE_TIMESTAMP_HEADER = SessionHeaders.MESSAGE_TIMESTAMP;

    /**
     * What is recorded instead of an assistant reply over {@link SessionConfig#maxMessageSize()}: the
     * client has the whole reply; the session keeps the turn's place and says why the text is missing.
     */
    public static final String REPLY_NOT_RECORDED =
            "[reply not recorded: larger than the proxy's sessions.max-message-size]";

    private static final System.Logger LOG = System.getLogger(ChatSessions.class.getName());
    /** Room for the JSON around the reply text in a non-streamed completion. */
    private static final long ENVELOPE = 64 * 1024;

    private final SessionStore store;
    private final SessionConfig config;
    private final Executor executor;
    /** Calls to the store under way or queued (see {@link #awaitStoreCalls}). */
    private final io.github.openaiproxy.core.internal.UnderWay storeCalls =
            new io.github.openaiproxy.core.internal.UnderWay();

    private final Clock clock;
    /** The engine's image storage; {@code null} when images are not stored. */
    private final Images images;

    /**
     * @param store where sessions live
     * @param config how they are used
     * @param executor runs the store's calls when it blocks (see {@link SessionStore#blocking()})
     */
    public ChatSessions(SessionStore store, SessionConfig config, Executor executor) {
        this(store, config, executor, (Images) null);
    }

    /**
     * Sessions that also record image generations (their proxy links) and delete a session's images with it.
     *
     * @param images the engine's image storage, or {@code null} when {@code images.store} is none (then a
     *     {@code sessionId} on an image generation is refused: a session never records the upstream's links)
     */
    public ChatSessions(SessionStore store, SessionConfig config, Executor executor, Images images) {
        this(store, config, executor, Clock.systemUTC(), images);
    }

    ChatSessions(SessionStore store, SessionConfig config, Executor executor, Clock clock) {
        this(store, config, executor, clock, null);
    }

    ChatSessions(SessionStore store, SessionConfig config, Executor executor, Clock clock, Images images) {
        this.store = Objects.requireNonNull(store, "store");
        this.config = Objects.requireNonNull(config, "config");
        this.executor = store.blocking() ? Objects.requireNonNull(executor, "executor") : Runnable::run;
        this.clock = clock;
        this.images = images;
    }

    /** The REST routes of the sessions ({@code /sessions}, ...), none when sessions are disabled. */
    public List<CustomRoute> routes() {
        return config.enabled() ? SessionRoutes.all(this) : List.of();
    }

    /** What a request body asks of sessions. */
    public sealed interface Ask {
        /** Nothing: not a session chat. */
        record None() implements Ask {}

        /** The session fields are wrong: answer with this error. */
        record Rejected(ProxyError error) implements Ask {}

        /** A chat in this session. */
        record Use(String sessionId, boolean includeHistory) implements Ask {}
    }

    /**
     * Takes the session fields out of a {@code POST /} body (they never reach the upstream).
     *
     * @param body the parsed body; {@code sessionId} and {@code includeHistory} are removed from it
     * @param isImage whether the body asks for an image (sessions record chats only)
     */
    public Ask take(ObjectNode body, boolean isImage) {
        JsonNode id = body.remove(SESSION_ID);
        JsonNode history = body.remove(INCLUDE_HISTORY);
        boolean hasId = id != null && !id.isNull();
        boolean hasHistory = history != null && !history.isNull();
        if (!hasId && !hasHistory) {
            return new Ask.None();
        }
        if (!config.enabled()) {
            return new Ask.Rejected(SessionErrors.invalid(SESSION_ID, "Sessions are disabled on this proxy"));
        }
        if (hasHistory && !history.isBoolean()) {
            return new Ask.Rejected(SessionErrors.invalid(INCLUDE_HISTORY, "includeHistory must be a boolean"));
        }
        if (!hasId) {
            return new Ask.Rejected(SessionErrors.invalid(INCLUDE_HISTORY, "includeHistory needs a sessionId"));
        }
        if (!id.isTextual() || id.textValue().isBlank()) {
            return new Ask.Rejected(SessionErrors.invalid(SESSION_ID, "sessionId must be a non-empty string"));
        }
        if (isImage) {
            if (images == null) {
                // Without storage only the upstream's expiring links exist: a session never records them.
                return new Ask.Rejected(SessionErrors.invalid(
                        SESSION_ID, "sessionId applies to image generation only when the proxy stores images"));
            }
            return new Ask.Use(id.textValue(), false); // an image model takes no history
        }
        return new Ask.Use(id.textValue(), hasHistory ? history.booleanValue() : config.historyAsContext());
    }

    /** A turn under way: the messages to record once the reply is complete. */
    public static final class Turn {
        private final String sessionId;
        private final List<NewMessage> asked;
        private final String replyId = SessionIds.newMessageId();

        Turn(String sessionId, List<NewMessage> asked) {
            this.sessionId = sessionId;
            this.asked = asked;
        }
    }

    /** The outcome of {@link #begin}: the turn and the body to send upstream, or an error. */
    public sealed interface Begun {
        /** Go ahead: send {@code upstreamBody}, then {@link #record} the answer. */
        record Ready(Turn turn, ObjectNode upstreamBody) implements Begun {}

        /** The session is unknown or the store failed. */
        record Failed(ProxyError error) implements Begun {}
    }

    /**
     * Starts a turn: checks the session (unknown, or owned by someone else: 404 either way) and, when asked,
     * puts its history before the request's messages.
     *
     * @param use what the body asked
     * @param caller who asks ({@code null} counts as anonymous)
     * @param normalized the normalized chat body (never changed: with history, a copy is sent; without, itself)
     */
    public CompletableFuture<Begun> begin(Ask.Use use, Identity caller, ObjectNode normalized) {
        return begin(use, caller, normalized, Long.MAX_VALUE);
    }

    /**
     * As {@link #begin(Ask.Use, Identity, ObjectNode)}, refusing with 413 {@code request_too_large} a turn whose
     * history alone is surely longer than {@code maxBodyBytes} once written, before the body is built: a session
     * may hold more than one body, and a tiny request asking for its history must not cost a copy of all of it.
     *
     * @param maxBodyBytes the most bytes of the body sent upstream ({@code max-body-size})
     */
    public CompletableFuture<Begun> begin(Ask.Use use, Identity caller, ObjectNode normalized, long maxBodyBytes) {
        if (!isImageBody(normalized) && turnLength(normalized.path("messages")) > MAX_TURN_MESSAGES) {
            return CompletableFuture.completedFuture(new Begun.Failed(SessionErrors.turnTooLarge(MAX_TURN_MESSAGES)));
        }
        Instant asked = now();
        List<NewMessage> newMessages = isImageBody(normalized)
                ? List.of(
                        new NewMessage(SessionIds.newMessageId(), "user", text(normalized.get("prompt")), null, asked))
                : newMessages(normalized.path("messages"), asked);
        for (NewMessage m : newMessages) {
            if (m.size() > config.maxMessageSize()) {
                return CompletableFuture.completedFuture(
                        new Begun.Failed(SessionErrors.messageTooLarge(config.maxMessageSize())));
            }
        }
        String callerOwner = ownerId(caller);
        Supplier<Lookup> lookup = () -> {
            // The owner never changes, so checking it before the reads and the turn's append is enough.
            if (findUsable(use.sessionId(), callerOwner).isEmpty()) {
                return new Lookup(null, 0);
            }
            if (!use.includeHistory()) {
                return store.size(use.sessionId())
                        .map(size -> new Lookup(List.of(), size))
                        .orElse(new Lookup(null, 0));
            }
            // Size and history in one read (one transaction on one connection in the JDBC store), which may skip
            // the messages of a turn that is refused anyway.
            return store.recentHistory(use.sessionId(), config.contextMessages(), config.maxSessionSize(), maxBodyBytes)
                    .map(recent -> new Lookup(
                            recent.size() >= config.maxSessionSize() ? List.of() : recent.messages(),
                            recent.size(),
                            recent.tooLarge()))
                    .orElse(new Lookup(null, 0));
        };
        return call(lookup).handle((found, error) -> {
            if (error != null) {
                return new Begun.Failed(storeFailure(error));
            }
            if (found.history() == null) {
                return new Begun.Failed(SessionErrors.notFound());
            }
            if (found.size() >= config.maxSessionSize()) {
                return new Begun.Failed(SessionErrors.full(config.maxSessionSize()));
            }
            List<StoredMessage> history = withoutLeadingToolResults(found.history());
            if (found.tooLarge() || leastWritten(history) > maxBodyBytes) {
                return new Begun.Failed(ProxyError.payloadTooLarge(maxBodyBytes));
            }
            ObjectNode body = normalized;
            if (!history.isEmpty()) {
                // The top level only: the members below are shared, never written to.
                body = normalized.objectNode().setAll(normalized);
                ArrayNode messages = body.putArray("messages");
                history.forEach(m -> messages.add(asContext(m)));
                normalized.path("messages").forEach(messages::add);
            }
            return new Begun.Ready(new Turn(use.sessionId(), newMessages), body);
        });
    }

    /**
     * The history without the tool results it starts with: a window of the latest messages may start after the tool
     * call they answer, and the upstream refuses a {@code tool} message that follows no call.
     */
    static List<StoredMessage> withoutLeadingToolResults(List<StoredMessage> history) {
        int start = 0;
        while (start < history.size() && "tool".equals(history.get(start).role())) {
            start++;
        }
        return start == 0 ? history : history.subList(start, history.size());
    }

    /**
     * Fewer bytes than the messages take in a body, counted without writing them: a character is at least one
     * byte of UTF-8 and JSON only adds escapes, and a multi-part message is written as its parts' JSON, which
     * holds its text.
     */
    static long leastWritten(List<StoredMessage> history) {
        long n = 0;
        for (StoredMessage m : history) {
            n += m.contentJson() == null
                    ? m.content().length()
                    : Math.min(m.content().length(), m.contentJson().length());
        }
        return n;
    }

    /**
     * What sessions created by {@code identity} are owned by: its {@link Identity#ownerId()} (its SHA-256 when it
     * holds a control character or a lone surrogate, {@link io.github.openaiproxy.core.internal.StorableText#key});
     * {@code null} for anonymous callers (and for a request no identity was resolved for), whose sessions are
     * unowned.
     */
    static String ownerId(Identity identity) {
        // As every store keeps it: PostgreSQL would write "a" then a lone U+D800 as "a?", and refuse a NUL.
        return identity == null
                ? null
                : identity.ownerId()
                        .map(io.github.openaiproxy.core.internal.StorableText::key)
                        .orElse(null);
    }

    /**
     * The session if it exists and the caller may use it (a blocking store call). A session owned by someone
     * else is as unknown as one that never existed: the same answer, so no caller learns that it exists.
     */
    Optional<Session> findUsable(String sessionId, String callerOwnerId) {
        return store.find(sessionId).filter(s -> s.isUsableBy(callerOwnerId));
    }

    /**
     * What {@link #begin} found: the history to send (null for an unknown session), the session's bytes, and whether
     * the store found the history too long for the body without reading it.
     */
    private record Lookup(List<StoredMessage> history, long size, boolean tooLarge) {
        Lookup(List<StoredMessage> history, long size) {
            this(history, size, false);
        }
    }

    /** Refused store calls are warned of once a minute at most: a flood of them must not flood the log. */
    private static final Occasional QUEUE_FULL = new Occasional(TimeUnit.MINUTES.toNanos(1));

    /** The answer to a store call that failed: busy when its queue is full, else unavailable (logged). */
    static ProxyError storeFailure(Throwable error) {
        Throwable cause = Failures.unwrap(error);
        if (cause instanceof RejectedExecutionException) {
            QUEUE_FULL.log(
                    LOG,
                    System.Logger.Level.WARNING,
                    "session store queue full (or one client''s share of it): call refused");
            return SessionErrors.busy();
        }
        LOG.log(System.Logger.Level.ERROR, "session store failed", error);
        return SessionErrors.unavailable();
    }

    /**
     * Records the turn once the upstream's answer is complete. An error answer passes unchanged and
     * records nothing.
     *
     * @param turn the turn from {@link #begin}
     * @param answer the relayed upstream answer
     */
    public CompletableFuture<ProxyResponse> record(Turn turn, ProxyResponse answer) {
        if (answer.status() < 200 || answer.status() >= 300) {
            return CompletableFuture.completedFuture(answer);
        }
        HeaderMap headers = new HeaderMap().addAll(answer.headers());
        if (answer.streaming()) {
            headers.set(MESSAGE_ID_HEADER, turn.replyId);
            RecordingStream recorded = new RecordingStream(
                    answer.body(),
                    config.maxMessageSize(),
                    reply -> append(turn, reply, now()).thenApply(ok -> null));
            return CompletableFuture.completedFuture(
                    new ProxyResponse(answer.status(), headers.build(), recorded, true));
        }
        // The JSON around the text is small; a body past this cannot hold a reply that may be recorded.
        int readLimit = (int) Math.min(2L * config.maxMessageSize() + ENVELOPE, Integer.MAX_VALUE - 8);
        return Prefetch.read(answer.body(), readLimit).thenCompose(read -> {
            if (read instanceof Prefetch.Outcome.Broken broken) {
                return CompletableFuture.failedFuture(broken.cause());
            }
            if (read instanceof Prefetch.Outcome.Longer longer) {
                // Relayed whole, never cut; the session keeps a marker in the reply's place.
                LOG.log(
                        System.Logger.Level.WARNING,
                        "a session reply of more than {0} bytes is relayed but not recorded",
                        readLimit);
                Instant at = now();
                return append(turn, new Reply(REPLY_NOT_RECORDED, null), at).thenApply(recorded -> {
                    if (recorded) {
                        headers.set(MESSAGE_ID_HEADER, turn.replyId);
                        headers.set(MESSAGE_TIMESTAMP_HEADER, at.toString());
                    }
                    return new ProxyResponse(answer.status(), headers.build(), longer.body(), false);
                });
            }
            return recordWhole(turn, answer.status(), headers, ((Prefetch.Outcome.Whole) read).bytes());
        });
    }

    /** Whether a normalized body is an image generation's (a prompt, no messages). */
    static boolean isImageBody(ObjectNode normalized) {
        return normalized.has("prompt") && !normalized.has("messages");
    }

    /**
     * What an image generation's reply is recorded as when its images were not stored (the answer fell back to
     * the upstream's links, which expire: the session never keeps them).
     */
    public static final String IMAGES_NOT_STORED = "[images not stored by the proxy]";

    /**
     * Records an image generation's turn: the prompt, then an assistant message whose content is the proxy's
     * links of the stored images, one a line ({@link #IMAGES_NOT_STORED} when none was stored). The answer
     * passes unchanged (its body is not read); an error answer records nothing.
     *
     * @param turn the turn from {@link #begin}
     * @param answer the answer, its links already the proxy's
     * @param links the proxy's links of the images stored for it, in order; {@code null} or empty for none
     */
    public CompletableFuture<ProxyResponse> recordImages(Turn turn, ProxyResponse answer, List<String> links) {
        if (answer.status() < 200 || answer.status() >= 300) {
            return CompletableFuture.completedFuture(answer);
        }
        String reply = links == null || links.isEmpty() ? IMAGES_NOT_STORED : String.join("\n", links);
        Instant at = now();
        return append(turn, new Reply(reply, null), at).thenApply(recorded -> {
            if (!recorded) {
                return answer;
            }
            HeaderMap headers = new HeaderMap().addAll(answer.headers());
            headers.set(MESSAGE_ID_HEADER, turn.replyId);
            headers.set(MESSAGE_TIMESTAMP_HEADER, at.toString());
            return new ProxyResponse(answer.status(), headers.build(), answer.body(), answer.streaming());
        });
    }

    /**
     * Deletes a session the caller may use, then the stored images of its image replies that the caller may see
     * (its own and unowned ones), on the image threads; completes when both are done. An image that cannot be
     * deleted is logged and left to retention: the session is gone either way.
     *
     * @return whether the session was there (and usable) and is deleted
     */
    CompletableFuture<Boolean> deleteWithImages(String sessionId, Identity caller) {
        String owner = ownerId(caller);
        Supplier<Optional<List<String>>> operation = () -> {
            if (findUsable(sessionId, owner).isEmpty()) {
                return Optional.empty();
            }
            // Read before the delete: afterwards the messages are gone.
            List<String> imageIds = images == null ? List.of() : referencedImages(sessionId);
            return store.delete(sessionId) ? Optional.of(imageIds) : Optional.empty();
        };
        return call(operation).thenCompose(deleted -> {
            if (deleted.isEmpty() || deleted.get().isEmpty()) {
                return CompletableFuture.completedFuture(deleted.isPresent());
            }
            return images.deleteVisible(deleted.get(), caller).handle((n, error) -> true);
        });
    }

    /** The proxy image ids of the session's image replies (assistant messages that are only proxy links). */
    private List<String> referencedImages(String sessionId) {
        java.util.LinkedHashSet<String> ids = new java.util.LinkedHashSet<>();
        long after = 0;
        while (true) {
            Optional<MessagePage> page = store.messages(sessionId, after, 1000);
            if (page.isEmpty()) {
                break;
            }
            for (StoredMessage m : page.get().messages()) {
                if ("assistant".equals(m.role())) {
                    ids.addAll(Images.idsInImageReply(m.content()));
                }
            }
            if (!page.get().hasMore()) {
                break;
            }
            after = page.get().nextAfter();
        }
        return List.copyOf(ids);
    }

    private CompletableFuture<ProxyResponse> recordWhole(Turn turn, int status, HeaderMap headers, byte[] body) {
        return CompletableFuture.completedFuture(body)
                .thenCompose(bytes -> {
                    Optional<Reply> reply = replyOf(bytes);
                    if (reply.isPresent() && reply.get().size() > config.maxMessageSize()) {
                        LOG.log(
                                System.Logger.Level.WARNING,
                                "a session reply over sessions.max-message-size is relayed but not recorded");
                        reply = Optional.of(new Reply(REPLY_NOT_RECORDED, null));
                    }
                    if (reply.isEmpty()) {
                        LOG.log(System.Logger.Level.WARNING, "a session reply could not be read; not recorded");
                        return CompletableFuture.completedFuture(bytes);
                    }
                    Instant at = now();
                    return append(turn, reply.get(), at).thenApply(recorded -> {
                        if (recorded) {
                            headers.set(MESSAGE_ID_HEADER, turn.replyId);
                            headers.set(MESSAGE_TIMESTAMP_HEADER, at.toString());
                        }
                        return bytes;
                    });
                })
                .thenApply(bytes -> {
                    headers.set("Content-Length", Integer.toString(bytes.length));
                    return ProxyResponse.of(status, headers.build(), bytes);
                });
    }

    /** Appends the turn; a store failure is logged, never thrown: the reply has been paid for. */
    private CompletableFuture<Boolean> append(Turn turn, Reply reply, Instant at) {
        List<NewMessage> all = new ArrayList<>(turn.asked);
        all.add(new NewMessage(turn.replyId, "assistant", reply.text(), reply.messageJson(), at));
        return call(() -> store.append(turn.sessionId, all).isPresent()).handle((ok, error) -> {
            if (error != null) {
                LOG.log(System.Logger.Level.ERROR, "could not record a session turn", error);
                return false;
            }
            if (!ok) {
                LOG.log(System.Logger.Level.INFO, "session deleted during a turn; turn not recorded");
            }
            return ok;
        });
    }

    /** Runs a store call, on the executor when the store blocks. */
    <T> CompletableFuture<T> call(Supplier<T> operation) {
        storeCalls.begin(); // until it ends: the engine's close() waits for it before the store closes
        CompletableFuture<T> called;
        try {
            called = CompletableFuture.supplyAsync(operation, executor);
        } catch (RejectedExecutionException e) {
            storeCalls.end();
            return CompletableFuture.failedFuture(e);
        }
        called.whenComplete((v, e) -> storeCalls.end());
        return called;
    }

    /**
     * Waits, at most {@code max}, until no call to the store is under way or queued (a turn being recorded after its
     * answer): the engine's {@code close()} calls it before the store, or the threads its calls run on, close.
     *
     * @param max the longest wait
     * @return how many calls are still under way after the wait
     */
    public int awaitStoreCalls(java.time.Duration max) {
        return storeCalls.awaitNone(max);
    }

    SessionStore store() {
        return store;
    }

    SessionConfig config() {
        return config;
    }

    Instant now() {
        return clock.instant().truncatedTo(ChronoUnit.MILLIS);
    }

    /** How many messages a turn records: the request's after its last assistant message. */
    static int turnLength(JsonNode messages) {
        int n = 0;
        for (JsonNode m : messages) {
            n = "assistant".equals(m.path("role").asText()) ? 0 : n + 1;
        }
        return n;
    }

    /** The request's messages after its last assistant message. */
    static List<NewMessage> newMessages(JsonNode messages, Instant at) {
        List<JsonNode> all = new ArrayList<>();
        messages.forEach(all::add);
        int start = 0;
        for (int i = 0; i < all.size(); i++) {
            if ("assistant".equals(all.get(i).path("role").asText())) {
                start = i + 1;
            }
        }
        List<NewMessage> out = new ArrayList<>();
        for (JsonNode m : all.subList(start, all.size())) {
            if (!m.isObject()) {
                continue;
            }
            JsonNode role = m.get("role");
            JsonNode content = m.get("content");
            String json;
            if (hasMoreThanContent(m) || (content != null && content.isObject())) {
                json = m.toString(); // a tool result's tool_call_id, a name: the whole message, sent back as it came
            } else {
                json = content == null || content.isNull() || content.isTextual() ? null : content.toString();
            }
            out.add(new NewMessage(
                    SessionIds.newMessageId(),
                    role != null && role.isTextual() ? role.textValue() : "user",
                    text(content),
                    json,
                    at));
        }
        return out;
    }

    /** The text of a message content: the string, or the text parts of multi-part content. */
    static String text(JsonNode content) {
        if (content == null || content.isNull() || content.isMissingNode()) {
            return "";
        }
        if (content.isTextual()) {
            return content.textValue();
        }
        if (content.isArray()) {
            List<String> parts = new ArrayList<>();
            content.forEach(p -> {
                if (p.path("text").isTextual()) {
                    parts.add(p.path("text").textValue());
                }
            });
            return String.join("\n", parts);
        }
        return content.toString();
    }

    /**
     * An assistant reply as recorded: its text, and when it is more than text (a refusal, tool calls) the message
     * itself as JSON, so that history sent back as context carries them as the upstream answered.
     *
     * @param text the reply's content text ({@code ""} when it has none)
     * @param messageJson the whole message as a JSON object, or {@code null} for a reply that is only text
     */
    record Reply(String text, String messageJson) {
        long size() {
            return NewMessage.utf8Length(text) + (messageJson == null ? 0 : NewMessage.utf8Length(messageJson));
        }
    }

    /** The fields of a reply besides its content that a request may send back: OpenAI's assistant message's. */
    private static final List<String> REPLY_FIELDS = List.of("name", "refusal", "tool_calls", "function_call");

    /** Whether a message has fields besides its role and content (a tool result's {@code tool_call_id}, a name). */
    private static boolean hasMoreThanContent(JsonNode message) {
        var names = message.fieldNames();
        while (names.hasNext()) {
            String name = names.next();
            if (!name.equals("role") && !name.equals("content")) {
                return true;
            }
        }
        return false;
    }

    /** The first choice's message of a chat completion. */
    static Optional<Reply> replyOf(byte[] completion) {
        try {
            JsonNode message = Json.parse(completion).path("choices").path(0).path("message");
            return message.isObject() ? Optional.of(reply(message)) : Optional.empty();
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * A reply message as recorded: its text, and, when it has a refusal or tool calls, the message with only the
     * fields a request may carry (OpenAI answers {@code "refusal": null} and {@code "annotations": []} too, which
     * an assistant message in a request may not have).
     */
    static Reply reply(JsonNode message) {
        JsonNode content = message.get("content");
        ObjectNode kept = null;
        for (String field : REPLY_FIELDS) {
            JsonNode value = message.get(field);
            if (value == null
                    || value.isNull()
                    || value.isContainerNode() && value.isEmpty()
                    || value.isTextual() && value.textValue().isEmpty()) {
                continue;
            }
            if (kept == null) {
                kept = Json.object();
                kept.put("role", "assistant");
                kept.set("content", content == null ? kept.nullNode() : content);
            }
            kept.set(field, value);
        }
        return new Reply(text(content), kept == null ? null : kept.toString());
    }

    /**
     * A stored message as context: its whole message when it was kept (a JSON object: tool calls, a tool result, a
     * refusal), else its role and content (multi-part content as its JSON).
     */
    private static ObjectNode asContext(StoredMessage m) {
        ObjectNode n = Json.object();
        n.put("role", m.role());
        if (m.contentJson() != null) {
            try {
                JsonNode json = Json.parse(m.contentJson().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                if (json.isObject()) {
                    n.setAll((ObjectNode) json);
                    n.put("role", m.role());
                } else {
                    n.set("content", json);
                }
                return n;
            } catch (IOException e) {
                // fall back to the text
            }
        }
        n.put("content", m.content());
        return n;
    }
}
