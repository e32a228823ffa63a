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
