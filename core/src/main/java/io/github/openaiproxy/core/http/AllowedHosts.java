package io.github.openaiproxy.core.http;

import java.net.URI;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * The host names the proxy answers to: its defence against DNS rebinding. A page on an attacker's
 * domain that resolves to the proxy's address sends requests whose {@code Origin} equals their
 * {@code Host}; they look same-origin, so CORS does not stop them, and the proxy would spend its key
 * for that page. Listing the proxy's real host names refuses every request addressed to another one.
 *
 * <p>Entries are host names or IP addresses without scheme or port ({@code chat.example.com},
 * {@code localhost}, {@code 127.0.0.1}, {@code [::1]}), {@code .example.com} for a domain and all its
 * subdomains, or {@code *} for any host. No entries (the default) means any host. A request that names
 * no host at all (one built in code, a module's sub-request) is not a browser's and is let through.
 */
public final class AllowedHosts {
    /** Any host: the default. */
    public static final AllowedHosts ANY = new AllowedHosts(List.of(), Set.of(), List.of(), true);

    /**
     * The names of the loopback interface ({@code localhost}, {@code 127.0.0.1}, {@code [::1]}): what a
     * server bound to loopback answers to when nothing else is configured (the standalone server does).
     */
    public static final List<String> LOOPBACK_NAMES = List.of("localhost", "127.0.0.1", "[::1]");

    private final List<String> entries;
    private final Set<String> exact;
    private final List<String> domains;
    private final boolean any;

    /*
     * The last origin judged, with its verdict. The origin is the request's own as the adapter saw it, the same
     * on every request a server receives under one name, and parsing it (URI.create) was a visible share of a
     * request's CPU. The verdict depends on the origin only, so remembering it changes no answer.
     */
    private volatile OriginVerdict lastOrigin;

    private AllowedHosts(List<String> entries, Set<String> exact, List<String> domains, boolean any) {
        this.entries = entries;
        this.exact = exact;
        this.domains = domains;
        this.any = any;
    }

    /**
     * Parses the entries.
     *
     * @throws IllegalArgumentException naming {@code allowed-hosts} for an entry with a scheme, port or path
     */
    public static AllowedHosts of(List<String> entries) {
        List<String> kept = new ArrayList<>();
        Set<String> exact = new HashSet<>();
        List<String> domains = new ArrayList<>();
        boolean any = false;
        for (String raw : entries) {
            String e = raw == null ? "" : raw.strip().toLowerCase(Locale.ROOT);
            if (e.isEmpty()) {
                continue;
            }
            kept.add(e);
            if (e.equals("*")) {
                any = true;
            } else if (e.startsWith(".") && isHostName(e.substring(1))) {
                domains.add(e);
            } else if (isHostName(e) || isIpv6(e)) {
                exact.add(unbracket(e));
            } else {
                throw new IllegalArgumentException("allowed-hosts: expected a host name such as chat.example.com,"
                        + " .example.com, 127.0.0.1, [::1] or *, without scheme or port, got " + raw);
            }
        }
        return kept.isEmpty() ? ANY : new AllowedHosts(List.copyOf(kept), Set.copyOf(exact), List.copyOf(domains), any);
    }

    /** The entries as configured (lower case); empty for any host. */
    public List<String> entries() {
        return entries;
    }

    /** Whether every host is allowed. */
    public boolean allowsAny() {
        return any; // of() returns ANY when nothing was listed
    }

    /**
     * Whether the proxy answers a request: the host it was addressed to ({@link ProxyRequest#requestOrigin}
     * as the adapter saw it, else the {@code Host} header) is allowed, or it names none.
     */
    public boolean allows(ProxyRequest request) {
        if (allowsAny()) {
            return true;
        }
        Optional<String> origin = request.requestOrigin();
        if (origin.isPresent()) {
            String o = origin.get();
            OriginVerdict last = lastOrigin;
            if (last != null && last.origin().equals(o)) {
                return last.allowed();
            }
            Optional<String> host = hostOfOrigin(o);
            if (host.isPresent()) {
                boolean allowed = allowsHost(host.get());
                lastOrigin = new OriginVerdict(o, allowed);
                return allowed;
            }
        }
        Optional<String> host = request.header("Host").map(AllowedHosts::hostOfHeader);
        return host.isEmpty() || allowsHost(host.get());
    }

    /** An origin and whether its host is allowed. */
    private record OriginVerdict(String origin, boolean allowed) {}

    /** Whether a host name (or IP address, IPv6 with or without brackets) is allowed. */
    public boolean allowsHost(String host) {
        if (allowsAny()) {
            return true;
        }
        String h = unbracket(host.strip().toLowerCase(Locale.ROOT));
        if (h.endsWith(".")) {
            h = h.substring(0, h.length() - 1); // the absolute form names the same host
        }
        if (exact.contains(h)) {
            return true;
        }
        for (String d : domains) {
            if (h.endsWith(d) || h.equals(d.substring(1))) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String toString() {
        return allowsAny() ? "any" : String.join(",", entries);
    }

    private static Optional<String> hostOfOrigin(String origin) {
        try {
            return Optional.ofNullable(URI.create(origin).getHost());
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** {@code example.com:8080} and {@code [::1]:8080} without their ports. */
    private static String hostOfHeader(String value) {
        String v = value.strip();
        if (v.startsWith("[")) {
            int end = v.indexOf(']');
            return end < 0 ? v : v.substring(0, end + 1);
        }
        int colon = v.indexOf(':');
        return colon < 0 ? v : v.substring(0, colon);
    }

    private static boolean isHostName(String s) {
        return !s.isEmpty() && s.matches("[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\\.?");
    }

    private static boolean isIpv6(String s) {
        String u = unbracket(s);
        return u.indexOf(':') >= 0 && u.matches("[0-9a-f:.]+");
    }

    private static String unbracket(String s) {
        return s.startsWith("[") && s.endsWith("]") ? s.substring(1, s.length() - 1) : s;
    }
}
