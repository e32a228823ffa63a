package io.github.openaiproxy.core.internal;

import java.net.http.HttpHeaders;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** A small mutable builder for {@link HttpHeaders}; names are case-insensitive. */
public final class HeaderMap {
    private final Map<String, List<String>> map = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);

    public HeaderMap set(String name, String value) {
        map.put(name, List.of(value)); // immutable: a later add copies it, as it does a shared constant
        return this;
    }

    /**
     * Sets a header to a constant, immutable list shared by every response: no allocation for the
     * value. A later {@link #add} to the same name copies it first.
     */
    public HeaderMap setShared(String name, List<String> constant) {
        map.put(name, constant);
        return this;
    }

    public HeaderMap add(String name, String value) {
        List<String> values = map.get(name);
        if (!(values instanceof ArrayList)) { // absent, or a shared constant
            values = values == null ? new ArrayList<>(1) : new ArrayList<>(values);
            map.put(name, values);
        }
        values.add(value);
        return this;
    }

    /** Adds every value of {@code headers}, after those already here. */
    public HeaderMap addAll(HttpHeaders headers) {
        headers.map().forEach((name, values) -> values.forEach(v -> add(name, v)));
        return this;
    }

    public HeaderMap setAll(Map<String, String> headers) {
        headers.forEach(this::set);
        return this;
    }

    public boolean contains(String name) {
        return map.containsKey(name);
    }

    /**
     * Whether a {@code Content-Encoding} value names a coding (gzip, br, ...): present, not blank and not {@code
     * identity}. The proxy decodes none, so what it must read it refuses or passes unread when this holds.
     */
    public static boolean isCoded(String contentEncoding) {
        return contentEncoding != null
                && !contentEncoding.isBlank()
                && !contentEncoding.strip().equalsIgnoreCase("identity");
    }

    /** Whether a {@code Content-Type} is {@code text/event-stream}, in any case, its parameters ignored. */
    public static boolean isEventStreamType(String contentType) {
        return contentType.regionMatches(true, 0, "text/event-stream", 0, "text/event-stream".length());
    }

    /**
     * Whether a {@code Content-Type} is JSON: {@code application/json} or {@code application/*+json}, in any case,
     * its parameters ignored. Read on every answer and request, so without a copy of the string.
     */
    public static boolean isJsonType(String contentType) {
        int end = contentType.indexOf(';');
        if (end < 0) {
            end = contentType.length();
        }
        while (end > 0 && isSpace(contentType.charAt(end - 1))) {
            end--;
        }
        int start = 0;
        while (start < end && isSpace(contentType.charAt(start))) {
            start++;
        }
        int length = end - start;
        if (length < 16 || !contentType.regionMatches(true, start, "application/", 0, 12)) {
            return false;
        }
        return (length == 16 && contentType.regionMatches(true, start + 12, "json", 0, 4))
                || (length > 17 && contentType.regionMatches(true, end - 5, "+json", 0, 5));
    }

    private static boolean isSpace(char c) {
        return c == ' ' || c == '\t';
    }

    /**
     * The first value of a header, or {@code null}: {@link HttpHeaders#firstValue} without its stream and
     * {@code Optional}, for the per-request path.
     */
    public static String first(HttpHeaders headers, String name) {
        List<String> values = headers.map().get(name);
        return values == null || values.isEmpty() ? null : values.get(0);
    }

    public HttpHeaders build() {
        return HttpHeaders.of(map, (n, v) -> true);
    }
}
