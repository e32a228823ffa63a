package io.github.openaiproxy.examples.standalone;

import io.github.openaiproxy.core.ProxyConfig;
import io.github.openaiproxy.core.access.DeclaredProxyKeys;
import io.github.openaiproxy.core.access.LayeredProxyKeyStore;
import io.github.openaiproxy.core.access.Policy;
import io.github.openaiproxy.core.access.ProxyKey;
import io.github.openaiproxy.core.access.ProxyKeys;
import io.github.openaiproxy.core.admin.AdminException;
import io.github.openaiproxy.core.admin.AdminService;
import io.github.openaiproxy.core.admin.CreatedKey;
import io.github.openaiproxy.core.admin.NewKey;
import io.github.openaiproxy.core.config.ProxySettings;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code java -jar openai-proxy-standalone.jar keys ...}: the admin API's key operations on the command line,
 * against the server's configured database (the same environment as the server), audited as {@code cli}.
 *
 * <pre>
 *   keys create --name NAME [--policy POLICY] [--owner OWNER] [--expires 2030-01-01T00:00:00Z]
 *   keys list
 *   keys revoke ID
 *   keys rotate ID
 *   keys hash [--name NAME] [--policy POLICY]     (no database: a new key, its SHA-256, its access.keys entry)
 *   keys admin-token                              (no database: a new admin token and its SHA-256 for admin.tokens)
 * </pre>
 *
 * A new key is printed once, on its own line after {@code key: }; nothing else ever prints a key or a hash.
 */
final class KeysCommand {
    static final String USAGE = String.join(
            "\n",
            "usage: java -jar openai-proxy-standalone.jar keys <command>",
            "  keys create --name NAME [--policy POLICY] [--owner OWNER] [--expires 2030-01-01T00:00:00Z]",
            "  keys list",
            "  keys revoke ID",
            "  keys rotate ID",
            "  keys hash [--name NAME] [--policy POLICY]   a new key with its SHA-256 and access.keys entry",
            "  keys admin-token                            a new admin token with its SHA-256 for admin.tokens");

    private KeysCommand() {}

    /**
     * Runs {@code args} (the first being {@code keys}); returns the exit code: 0 done, 1 refused or failed,
     * 2 a usage error.
     *
     * @param workDir where the default H2 file is ({@code null}: the working directory)
     */
    static int run(String[] args, Map<String, String> env, Path workDir, PrintStream out, PrintStream err) {
        if (args.length < 2) {
            err.println(USAGE);
            return 2;
        }
        String command = args[1];
        Map<String, String> options;
        List<String> positional;
        try {
            Parsed parsed = Parsed.of(args);
            options = parsed.options;
            positional = parsed.positional;
        } catch (IllegalArgumentException e) {
            err.println(e.getMessage() + "\n" + USAGE);
            return 2;
        }
        if (command.equals("hash")) {
            return hash(options, out, err);
        }
        if (command.equals("admin-token")) {
            if (!options.isEmpty() || !positional.isEmpty()) {
                err.println(USAGE);
                return 2;
            }
            // Not a proxy key (another prefix): the routes that identify callers leave it alone.
            ProxyKeys.NewKey t = ProxyKeys.generateAdminToken();
            out.println("token:  " + t.secret());
            out.println("sha256: " + t.hash());
            out.println("Put the sha256 in admin.tokens (OPENAI_PROXY_ADMIN_TOKENS); the token is shown this once.");
            return 0;
        }
        boolean known = switch (command) {
            case "create" -> positional.isEmpty();
            case "list" -> positional.isEmpty() && options.isEmpty();
            case "revoke", "rotate" -> positional.size() == 1 && options.isEmpty();
            default -> false;
        };
        if (!known) {
            err.println(USAGE);
            return 2;
        }
        ProxyConfig config;
        try {
            config = ProxySettings.fromEnvironment(env).toConfig();
        } catch (IllegalArgumentException e) {
            err.println("openai-proxy: configuration error: " + e.getMessage());
            return 1;
        }
        try (AccessStorage storage = AccessStorage.open(env, null, workDir)) {
            AdminService admin = new AdminService(
                    config.access(),
                    LayeredProxyKeyStore.of(config.access().declaredKeys(), storage.keys()),
                    storage.policies(),
                    storage.audit(),
                    Clock.systemUTC());
            switch (command) {
                case "create" -> {
                    Instant expires = options.containsKey("expires") ? Instant.parse(options.get("expires")) : null;
                    CreatedKey c = admin.createKey(
                            AdminService.CLI,
                            new NewKey(options.get("name"), options.get("owner"), options.get("policy"), expires));
                    printCreated(c, out);
                }
                case "list" -> {
                    out.printf(
                            "%-26s %-12s %-8s %-16s %-24s %-20s %s%n",
                            "ID", "PREFIX", "STATUS", "POLICY", "NAME", "OWNER", "LAST USED");
                    Instant now = Instant.now();
                    for (ProxyKey k : admin.listKeys()) {
                        out.printf(
                                "%-26s %-12s %-8s %-16s %-24s %-20s %s%n",
                                k.id(),
                                k.displayPrefix(),
                                k.revokedAt() != null ? "revoked" : k.isActiveAt(now) ? "active" : "expired",
                                k.policy(),
                                k.name(),
                                k.owner() == null ? "-" : k.owner(),
                                k.lastUsedAt() == null ? "never" : k.lastUsedAt());
                    }
                }
                case "revoke" -> {
                    ProxyKey k = admin.revokeKey(AdminService.CLI, positional.get(0));
                    out.println("revoked " + k.id() + " (" + k.name() + ") at " + k.revokedAt());
                }
                default -> printCreated(admin.rotateKey(AdminService.CLI, positional.get(0)), out);
            }
            return 0;
        } catch (AdminException e) {
            err.println("openai-proxy: " + e.getMessage() + " (" + e.code() + ")");
            return 1;
        } catch (DateTimeParseException e) {
            err.println("openai-proxy: --expires must be an ISO-8601 instant, for example 2030-01-01T00:00:00Z");
            return 2;
        } catch (RuntimeException e) {
            err.println("openai-proxy: " + e.getMessage());
            return 1;
        }
    }

    private static void printCreated(CreatedKey c, PrintStream out) {
        out.println("id:     " + c.key().id());
        out.println("name:   " + c.key().name());
        out.println("policy: " + c.key().policy());
        out.println("key:    " + c.secret());
        out.println("The key is shown this once: store it now.");
    }

    /** A new key with what configuration holds of it; touches no database. */
    private static int hash(Map<String, String> options, PrintStream out, PrintStream err) {
        String name = options.getOrDefault("name", "key");
        String policy = options.getOrDefault("policy", Policy.KEYS);
        ProxyKeys.NewKey k = ProxyKeys.generate();
        String entry = DeclaredProxyKeys.entry(k.hash(), policy, name);
        try {
            DeclaredProxyKeys.parse(List.of(entry));
        } catch (IllegalArgumentException e) {
            err.println("openai-proxy: " + e.getMessage());
            return 2;
        }
        out.println("key:    " + k.secret());
        out.println("sha256: " + k.hash());
        out.println("access.keys entry (OPENAI_PROXY_ACCESS_KEYS): " + entry);
        out.println("The key is shown this once; only its hash belongs in configuration.");
        return 0;
    }

    /** {@code --name x} options and positional arguments after the command. */
    private record Parsed(Map<String, String> options, List<String> positional) {
        static Parsed of(String[] args) {
            Map<String, String> options = new HashMap<>();
            List<String> positional = new java.util.ArrayList<>();
            for (int i = 2; i < args.length; i++) {
                String a = args[i];
                if (a.startsWith("--")) {
                    String name = a.substring(2);
                    String value;
                    int eq = name.indexOf('=');
                    if (eq >= 0) {
                        value = name.substring(eq + 1);
                        name = name.substring(0, eq);
                    } else if (i + 1 < args.length) {
                        value = args[++i];
                    } else {
                        throw new IllegalArgumentException("--" + name + " needs a value");
                    }
                    if (!List.of("name", "policy", "owner", "expires").contains(name)) {
                        throw new IllegalArgumentException("unknown option --" + name);
                    }
                    options.put(name, value);
                } else {
                    positional.add(a);
                }
            }
            return new Parsed(Map.copyOf(options), List.copyOf(positional));
        }
    }
}
