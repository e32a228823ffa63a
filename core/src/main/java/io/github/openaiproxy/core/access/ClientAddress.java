package io.github.openaiproxy.core.access;

import io.github.openaiproxy.core.http.ProxyRequest;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The address an anonymous caller is known by. The connection's peer, unless the peer is one of the
 * configured trusted proxies ({@code access.trusted-proxies}): then the forwarding header they write is
 * believed, walking the chain from the right (the hop nearest to us) and skipping trusted hops, so the first
 * untrusted address is the client. A client can prepend anything to the header; only what a trusted proxy
 * appended counts. Only the one header the proxies write is read ({@code access.forwarded-header}: {@code
 * X-Forwarded-For}, or {@code Forwarded} of RFC 7239): the other reaches us as the client sent it.
 *
 * <p>Addresses are parsed as literals only, never resolved: a header cannot make the proxy look up a name.
 */
final class ClientAddress {
    private static final System.Logger LOG = System.getLogger(ClientAddress.class.getName());

    private final List<Cidr> trusted;
    private final boolean rfc7239;
    /** Whether a trusted proxy was seen sending only the other header (said once: a likely misconfiguration). */
    private final java.util.concurrent.atomic.AtomicBoolean otherHeaderSeen =
            new java.util.concurrent.atomic.AtomicBoolean();

    ClientAddress(List<String> trustedProxies, AccessConfig.ForwardedHeader header) {
        this.trusted = trustedProxies.stream().map(Cidr::parse).toList();
        this.rfc7239 = header == AccessConfig.ForwardedHeader.FORWARDED;
    }

    /** The caller's address, or {@code null} when the adapter gave none. */
    String of(ProxyRequest request) {
        String peer = request.remoteAddress().orElse(null);
        if (peer == null || trusted.isEmpty()) {
            return peer; // the common case: no allocation, no header read
        }
        byte[] peerBytes = literal(peer);
        if (peerBytes == null || !isTrusted(peerBytes)) {
            return peer;
        }
        List<String> values = request.headers().allValues(rfc7239 ? "Forwarded" : "X-Forwarded-For");
        if (values.isEmpty()
                && !request.headers()
                        .allValues(rfc7239 ? "X-Forwarded-For" : "Forwarded")
                        .isEmpty()
                && otherHeaderSeen.compareAndSet(false, true)) {
            LOG.log(
                    System.Logger.Level.WARNING,
                    "a trusted proxy ({0}) sent {1} but not {2}: every anonymous caller behind it counts as the"
                            + " proxy; set access.forwarded-header={3} if that is the header it writes",
                    peer,
                    rfc7239 ? "X-Forwarded-For" : "Forwarded",
                    rfc7239 ? "Forwarded" : "X-Forwarded-For",
                    rfc7239 ? "x-forwarded-for" : "forwarded");
        }
        List<String> chain = hops(values, rfc7239);
        String last = peer;
        for (int i = chain.size() - 1; i >= 0; i--) {
            String hop = chain.get(i);
            byte[] bytes = literal(hop);
            if (bytes == null) {
                // A trusted hop wrote something that is no address ("unknown", an obfuscated name, garbage):
                // nothing beyond it can be believed, so the caller is the last address we could check.
                return last;
            }
            String normalized = format(bytes);
            if (!isTrusted(bytes)) {
                return normalized;
            }
            last = normalized;
        }
        return last;
    }

    /**
     * The address a caller is counted by ({@link #of}): an IPv4 address as it is, an IPv6 address as its
     * {@code /64} network ({@code 2001:db8:1:2:0:0:0:0/64}). One IPv6 subscriber holds a whole {@code /64}, so
     * counting single addresses would give it 2^64 fresh anonymous quotas and per-client caps.
     */
    String caller(ProxyRequest request) {
        String address = of(request);
        if (address == null || address.indexOf(':') < 0) {
            return address;
        }
        byte[] bytes = literal(address);
        if (bytes == null) {
            return address;
        }
        if (bytes.length == 4) {
            return format(bytes); // IPv4-mapped (::ffff:192.0.2.7): the same caller as over IPv4
        }
        java.util.Arrays.fill(bytes, 8, 16, (byte) 0);
        return format(bytes) + "/64";
    }

    private boolean isTrusted(byte[] address) {
        for (Cidr c : trusted) {
            if (c.contains(address)) {
                return true;
            }
        }
        return false;
    }

    /** The hops of the headers, in order (several header lines join as one list). */
    private static List<String> hops(List<String> values, boolean rfc7239) {
        List<String> out = new ArrayList<>();
        for (String value : values) {
            for (String element : value.split(",", -1)) {
                out.add(rfc7239 ? forParameter(element) : stripPort(element.strip()));
            }
        }
        return out;
    }

    /** The {@code for=} of one {@code Forwarded} element, or "" when it has none. */
    private static String forParameter(String element) {
        for (String pair : element.split(";", -1)) {
            String p = pair.strip();
            if (p.length() > 4 && p.regionMatches(true, 0, "for=", 0, 4)) {
                String v = p.substring(4).strip();
                if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
                    v = v.substring(1, v.length() - 1);
                }
                return stripPort(v);
            }
        }
        return "";
    }

    /** {@code [v6]:port} to {@code v6}, {@code v4:port} to {@code v4}; a bare IPv6 address unchanged. */
    private static String stripPort(String v) {
        if (v.startsWith("[")) {
            int end = v.indexOf(']');
            return end < 0 ? "" : v.substring(1, end);
        }
        int colon = v.indexOf(':');
        if (colon >= 0 && colon == v.lastIndexOf(':') && v.indexOf('.') >= 0) {
            return v.substring(0, colon);
        }
        return v;
    }

    /** The address's bytes when {@code text} is an IPv4 or IPv6 literal, else {@code null}. */
    static byte[] literal(String text) {
        if (text.isEmpty() || text.length() > 45) {
            return null;
        }
        boolean colon = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
            if (c == ':') {
                colon = true;
            } else if (!hex && c != '.') {
                return null; // letters beyond hex, '%' scopes, spaces: not a literal we accept
            }
        }
        if (!colon) {
            return ipv4(text);
        }
        try {
            // Only hex digits, colons and dots: InetAddress parses it as an IPv6 literal, without any lookup.
            return InetAddress.getByName(text).getAddress();
        } catch (UnknownHostException | RuntimeException e) {
            return null;
        }
    }

    private static byte[] ipv4(String text) {
        String[] parts = text.split("\\.", -1);
        if (parts.length != 4) {
            return null;
        }
        byte[] out = new byte[4];
        for (int i = 0; i < 4; i++) {
            String p = parts[i];
            if (p.isEmpty() || p.length() > 3) {
                return null;
            }
            int v = 0;
            for (int j = 0; j < p.length(); j++) {
                char c = p.charAt(j);
                if (c < '0' || c > '9') {
                    return null;
                }
                v = v * 10 + (c - '0');
            }
            if (v > 255) {
                return null;
            }
            out[i] = (byte) v;
        }
        return out;
    }

    private static String format(byte[] bytes) {
        try {
            return InetAddress.getByAddress(bytes).getHostAddress();
        } catch (UnknownHostException e) {
            throw new IllegalStateException("4 or 16 bytes", e);
        }
    }

    /** An address range: {@code 10.0.0.0/8}, {@code fd00::/8}, or one address. */
    record Cidr(byte[] network, int prefix) {
        static Cidr parse(String text) {
            String t = text.strip();
            int slash = t.indexOf('/');
            String address = slash < 0 ? t : t.substring(0, slash);
            byte[] bytes = literal(
                    address.startsWith("[") && address.endsWith("]")
                            ? address.substring(1, address.length() - 1)
                            : address);
            if (bytes == null) {
                throw new IllegalArgumentException("'" + text + "' is not an IP address or CIDR range");
            }
            int bits = bytes.length * 8;
            int prefix = bits;
            if (slash >= 0) {
                try {
                    prefix = Integer.parseInt(t.substring(slash + 1));
                } catch (NumberFormatException e) {
                    prefix = -1;
                }
                if (prefix < 0 || prefix > bits) {
                    throw new IllegalArgumentException("'" + text + "' has a prefix length outside 0.." + bits);
                }
            }
            return new Cidr(bytes, prefix);
        }

        boolean contains(byte[] address) {
            if (address.length != network.length) {
                return false;
            }
            int full = prefix / 8;
            for (int i = 0; i < full; i++) {
                if (address[i] != network[i]) {
                    return false;
                }
            }
            int rest = prefix % 8;
            if (rest == 0) {
                return true;
            }
            int mask = (0xff << (8 - rest)) & 0xff;
            return (address[full] & mask) == (network[full] & mask);
        }

        @Override
        public String toString() {
            return format(network).toLowerCase(Locale.ROOT) + "/" + prefix;
        }
    }
}
