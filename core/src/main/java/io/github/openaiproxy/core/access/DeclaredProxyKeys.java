package io.github.openaiproxy.core.access;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Proxy keys declared in configuration ({@code access.keys}), for teams that keep secrets in Git or a vault:
 * only the key's SHA-256 is written down, never the key. Each entry reads {@code <sha256-hex>:<policy>:<name>},
 * for example {@code 9f86d0...0f00a08:keys:ci}; {@code java -jar openai-proxy-standalone.jar keys hash} prints
 * a new key with its entry.
 *
 * <p>A declared key's id is {@code config-<name>}, so it stays the same (and keeps what it owns) when the key
 * behind it is replaced by another hash. Declared keys are read-only: the admin API lists them but cannot
 * revoke, rotate or re-assign them; change the configuration instead.
 */
public final class DeclaredProxyKeys {
    /** What the id of every declared key starts with. */
    public static final String ID_PREFIX = "config-";

    private static final Pattern HASH = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    private static final Pattern POLICY = Pattern.compile("[A-Za-z0-9._-]{1,64}");

    private DeclaredProxyKeys() {}

    /**
     * Parses the entries of {@code access.keys}.
     *
     * @throws IllegalArgumentException for an entry that is not {@code <sha256-hex>:<policy>:<name>}, or a name
     *     or hash used twice; the message names the entry by its position and name, never its hash
     */
    public static List<ProxyKey> parse(List<String> entries) {
        List<ProxyKey> keys = new ArrayList<>();
        Set<String> names = new HashSet<>();
        Set<String> hashes = new HashSet<>();
        for (int i = 0; i < entries.size(); i++) {
            String entry = entries.get(i).strip();
            String[] parts = entry.split(":", -1);
            String where = "access.keys entry " + (i + 1);
            if (parts.length != 3) {
                throw new IllegalArgumentException(where + " must read <sha256-hex>:<policy>:<name>");
            }
            String hash = parts[0].strip().toLowerCase(Locale.ROOT);
            String policy = parts[1].strip();
            String name = parts[2].strip();
            if (!HASH.matcher(hash).matches()) {
                throw new IllegalArgumentException(where + ": the hash must be 64 hex digits (a SHA-256)");
            }
            if (!POLICY.matcher(policy).matches()) {
                throw new IllegalArgumentException(
                        where + ": the policy must be 1-64 letters, digits, '.', '_' or '-'");
            }
            if (!NAME.matcher(name).matches()) {
                throw new IllegalArgumentException(where + ": the name must be 1-64 letters, digits, '.', '_' or '-'");
            }
            if (!names.add(name)) {
                throw new IllegalArgumentException(where + ": the name " + name + " is declared twice");
            }
            if (!hashes.add(hash)) {
                throw new IllegalArgumentException(where + " (" + name + "): the same hash is declared twice");
            }
            keys.add(declared(hash, policy, name));
        }
        return List.copyOf(keys);
    }

    /** One declared key; its creation time is unknown, shown as the epoch. */
    public static ProxyKey declared(String hash, String policy, String name) {
        return new ProxyKey(
                ID_PREFIX + name, ProxyKeys.PREFIX, hash, name, null, policy, Instant.EPOCH, null, null, null);
    }

    /** The entry that declares a key with this hash (what {@code keys hash} prints). */
    public static String entry(String hash, String policy, String name) {
        return hash + ":" + policy + ":" + name;
    }

    /** Whether an id is a declared key's. */
    public static boolean isDeclaredId(String id) {
        return id != null && id.startsWith(ID_PREFIX);
    }
}
