package io.github.openaiproxy.core;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.internal.Json;
import java.io.IOException;

/**
 * A request's JSON body as the limit step reads it: the tree when a step before parsed it, or the bytes, whose
 * top-level members it needs (the model, an image's size and quality, whether a stream was asked for) are read by
 * a streaming pass that builds no tree. The tree is parsed only when it is needed: for an estimate (a token or money
 * limit) or to ask a stream for its usage. So the ledger alone costs a request no tree (PassThroughBenchmark:
 * 534 against about 200 ns, 2.7 against 0.5 KB for a typical chat body).
 *
 * <p>The pass does not check what only the tree needs (a member named twice, which the mapper refuses): such a body
 * still names its model for the ledger (the last, as the upstream reads it); a token or money limit, which needs
 * the tree, refuses it ({@link #unreadable}). Not thread-safe: one request's step uses it.
 */
final class RequestJson {
    /** Without the mapper's duplicate check, which costs a set per object the pass goes through. */
    private static final JsonFactory FACTORY = JsonFactory.builder().build();

    /** No body, or one that is not a JSON object. */
    static final RequestJson NONE = new RequestJson(null, null);

    private final byte[] bytes;
    private ObjectNode tree;
    private boolean parsed;

    private boolean read;
    private String model;
    private String size;
    private String quality;
    private boolean stream;

    private RequestJson(byte[] bytes, ObjectNode tree) {
        this.bytes = bytes;
        this.tree = tree;
        this.parsed = tree != null || bytes == null;
    }

    /** A body parsed already ({@code null}: none, or not an object). */
    static RequestJson of(ObjectNode tree) {
        return tree == null ? NONE : new RequestJson(null, tree);
    }

    /** A body as read, parsed only when {@link #tree()} is asked for. */
    static RequestJson of(byte[] bytes) {
        return bytes == null || bytes.length == 0 ? NONE : new RequestJson(bytes, null);
    }

    /** The tree: parsed now if no step did before; {@code null} when the body is not one JSON object. */
    ObjectNode tree() {
        if (!parsed) {
            parsed = true;
            tree = Json.objectOrNull(bytes);
        }
        return tree;
    }

    /** Whether there is a body and it is not one JSON object the mapper reads (malformed, a member named twice). */
    boolean unreadable() {
        return bytes != null && tree() == null;
    }

    /**
     * The top-level {@code model}, {@code size} or {@code quality} when it is a string; {@code null} otherwise. From the
     * bytes when there are bytes (whether the tree was parsed since or not, so the answer does not depend on which
     * limit asked first).
     */
    String text(String field) {
        if (!field.equals("model") && !field.equals("size") && !field.equals("quality")) {
            throw new IllegalArgumentException("not read: " + field);
        }
        if (bytes == null) {
            JsonNode v = tree == null ? null : tree.get(field);
            return v != null && v.isTextual() ? v.textValue() : null;
        }
        readTopLevel();
        return switch (field) {
            case "model" -> model;
            case "size" -> size;
            default -> quality;
        };
    }

    /** Whether the top-level {@code stream} is {@code true}. */
    boolean streams() {
        if (bytes == null) {
            JsonNode v = tree == null ? null : tree.get("stream");
            return v != null && v.isBoolean() && v.booleanValue();
        }
        readTopLevel();
        return stream;
    }

    /**
     * One pass over the whole body, keeping the top-level members {@link #text} and {@link #streams} answer; a body
     * that is not one JSON object answers nothing.
     */
    private void readTopLevel() {
        if (read || bytes == null) {
            return;
        }
        read = true;
        String m = null;
        String s = null;
        String q = null;
        boolean st = false;
        try (JsonParser p = FACTORY.createParser(bytes)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return;
            }
            for (JsonToken t = p.nextToken(); t == JsonToken.FIELD_NAME; t = p.nextToken()) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                if (value == JsonToken.VALUE_STRING) {
                    switch (name) {
                        case "model" -> m = p.getText();
                        case "size" -> s = p.getText();
                        case "quality" -> q = p.getText();
                        default -> {
                            // not one the limit step reads
                        }
                    }
                } else if (name.equals("stream")) {
                    st = value == JsonToken.VALUE_TRUE;
                    p.skipChildren();
                } else {
                    p.skipChildren(); // read through all the same: a malformed body is no object
                }
            }
            if (!p.hasToken(JsonToken.END_OBJECT) || p.nextToken() != null) {
                return; // not one object, or something after it
            }
        } catch (IOException | RuntimeException e) {
            return; // not JSON: the upstream judges it
        }
        model = m;
        size = s;
        quality = q;
        stream = st;
    }
}
