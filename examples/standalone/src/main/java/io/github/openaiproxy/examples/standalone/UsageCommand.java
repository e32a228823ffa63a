package io.github.openaiproxy.examples.standalone;

import com.zaxxer.hikari.HikariDataSource;
import io.github.openaiproxy.core.config.ProxySettings;
import io.github.openaiproxy.core.usage.ledger.InvalidUsageQueryException;
import io.github.openaiproxy.core.usage.ledger.JdbcUsageStore;
import io.github.openaiproxy.core.usage.ledger.UsageQuery;
import io.github.openaiproxy.core.usage.ledger.UsageSummary;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code java -jar openai-proxy-standalone.jar usage --since 7d --by model}: the usage ledger summed on the
 * command line, from the server's configured database (the same environment as the server, {@code ledger.store=
 * jdbc}), as a table: one row per key, user, model, policy or day. A summary reads at most {@code
 * ledger.query-timeout}, as the server's do.
 */
final class UsageCommand {
    static final String USAGE = String.join(
            "\n",
            "usage: java -jar openai-proxy-standalone.jar usage --since 7d [--until TIME] [--by key|user|model|policy|day]",
            "         [--key ID] [--identity KIND:id] [--limit N]",
            "  --since, --until   a duration back from now (7d, 24h, 30m) or an ISO-8601 instant; --until: now",
            "  --by               how rows are grouped (default key)");

    private static final List<String> OPTIONS = List.of("since", "until", "by", "key", "identity", "limit");

    private UsageCommand() {}

    /**
     * Runs {@code args} (the first being {@code usage}); returns the exit code: 0 done, 1 failed, 2 a usage error.
     *
     * @param workDir where the default H2 file is ({@code null}: the working directory)
     */
    static int run(String[] args, Map<String, String> env, Path workDir, PrintStream out, PrintStream err) {
        return run(args, env, workDir, out, err, Clock.systemUTC());
    }

    static int run(
            String[] args, Map<String, String> env, Path workDir, PrintStream out, PrintStream err, Clock clock) {
        Map<String, String> options = new HashMap<>();
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                out.println(USAGE);
                return 0;
            }
            String name = a.startsWith("--") ? a.substring(2) : null;
            String value = null;
            if (name != null && name.contains("=")) {
                value = name.substring(name.indexOf('=') + 1);
                name = name.substring(0, name.indexOf('='));
            } else if (name != null && i + 1 < args.length && !args[i + 1].startsWith("--")) {
                value = args[++i];
            }
            // Each mistake by its name: "bad option" alone sent people looking for a typo that was not there.
            String problem = name == null
                    ? "unexpected " + a
                    : !OPTIONS.contains(name)
                            ? "unknown option --" + name
                            : value == null ? "--" + name + " needs a value" : null;
            if (problem == null && options.put(name, value) != null) {
                problem = "--" + name + " is given twice";
            }
            if (problem != null) {
                err.println("openai-proxy: " + shown(problem) + "\n" + USAGE);
                return 2;
            }
        }
        UsageQuery query;
        try {
            query = UsageQuery.parse(
                    options.get("since"),
                    options.get("until"),
                    options.get("by"),
                    options.get("key"),
                    options.get("identity"),
                    options.get("limit"),
                    clock.instant());
        } catch (InvalidUsageQueryException e) {
            err.println("openai-proxy: --" + e.parameter() + ": " + e.getMessage() + "\n" + USAGE);
            return 2;
        }
        Duration timeout;
        try {
            // The server's settings, as the server reads them: a summary here may read as long as one there.
            timeout = ProxySettings.fromEnvironment(env).toConfig().ledger().queryTimeout();
        } catch (IllegalArgumentException e) {
            err.println("openai-proxy: configuration error: " + e.getMessage());
            return 1;
        }
        Optional<Path> file;
        try {
            file = SessionStorage.h2File(env, workDir);
        } catch (RuntimeException e) {
            err.println("openai-proxy: " + e.getMessage());
            return 1;
        }
        if (file.isPresent() && !Files.exists(file.get())) {
            // Opening it would create an empty database (in the wrong directory, as often as not) and then say it
            // holds no ledger: the real answer is that no server ever ran here.
            err.println("openai-proxy: no database at " + file.get().toAbsolutePath()
                    + ": run this where the server runs, or set OPENAI_PROXY_DB_URL as the server has it");
            return 1;
        }
        try (HikariDataSource db = SessionStorage.pool(env, workDir, "openai-proxy-usage")) {
            // A reader: a database the ledger never wrote to gets no tables from it.
            Optional<JdbcUsageStore> ledger = JdbcUsageStore.existing(db, JdbcUsageStore.DEFAULT_PREFIX, clock);
            if (ledger.isEmpty()) {
                out.println("no usage ledger in this database: the server has not run with ledger.store=jdbc on it");
                return 0;
            }
            JdbcUsageStore store = ledger.get().withQueryTimeout(timeout);
            // One row more than asked for tells whether groups were left out.
            List<UsageSummary> rows = store.summarize(query.oneMore());
            boolean more = rows.size() > query.limit();
            print(query, more ? rows.subList(0, query.limit()) : rows, more, total(store, query), out);
            return 0;
        } catch (RuntimeException e) {
            err.println("openai-proxy: " + e.getMessage());
            return 1;
        }
    }

    /** An argument echoed back: cut, without control characters (it may be anything a shell passes). */
    private static String shown(String text) {
        String t = text.length() > 100 ? text.substring(0, 100) + "..." : text;
        return t.codePoints()
                .map(c -> Character.isISOControl(c) ? '?' : c)
                .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append)
                .toString();
    }

    /**
     * The whole range's sums, whatever the limit: summed by day (a range has at most {@link UsageQuery#MAX_RANGE}'s
     * days, fewer than {@link UsageQuery#MAX_LIMIT}), so the TOTAL line is never only the groups shown.
     */
    private static UsageSummary total(JdbcUsageStore store, UsageQuery q) {
        UsageSummary total = new UsageSummary("total", 0, 0, 0, 0, 0, 0, 0, 0);
        UsageQuery byDay = new UsageQuery(
                q.since(),
                q.until(),
                UsageQuery.By.DAY,
                q.keyId(),
                q.identityKind(),
                q.identityId(),
                UsageQuery.MAX_LIMIT);
        for (UsageSummary s : store.summarize(byDay)) {
            total = new UsageSummary(
                    "total",
                    total.requests() + s.requests(),
                    total.inputTokens() + s.inputTokens(),
                    total.cachedInputTokens() + s.cachedInputTokens(),
                    total.outputTokens() + s.outputTokens(),
                    total.reasoningTokens() + s.reasoningTokens(),
                    total.images() + s.images(),
                    total.costNanoUsd() + s.costNanoUsd(),
                    total.estimated() + s.estimated());
        }
        return total;
    }

    private static void print(
            UsageQuery q, List<UsageSummary> rows, boolean more, UsageSummary total, PrintStream out) {
        out.println("usage by " + q.by().label() + " from " + q.since() + " to " + q.until()
                + (q.keyId() == null ? "" : ", key " + q.keyId())
                + (q.identityKind() == null ? "" : ", identity " + q.identityKind() + ":" + q.identityId()));
        String format = "%-40s %10s %14s %12s %14s %12s %8s %16s %10s%n";
        out.printf(
                format,
                q.by().label().toUpperCase(java.util.Locale.ROOT),
                "REQUESTS",
                "INPUT",
                "CACHED",
                "OUTPUT",
                "REASONING",
                "IMAGES",
                "COST USD",
                "ESTIMATED");
        for (UsageSummary s : rows) {
            line(out, format, s.group() == null ? "-" : s.group(), s);
        }
        line(out, format, "TOTAL", total);
        if (more) {
            out.println("(there are more groups than --limit " + q.limit()
                    + ": the largest are shown; TOTAL counts them all)");
        }
        if (rows.isEmpty()) {
            out.println("(no usage in this range; is ledger.store=jdbc set on the server?)");
        }
    }

    private static void line(PrintStream out, String format, String group, UsageSummary s) {
        // A group is data (a model name a client chose): no control characters reach the terminal.
        String shown = group.codePoints()
                .map(c -> Character.isISOControl(c) ? '?' : c)
                .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append)
                .toString();
        out.printf(
                format,
                shown.length() > 40 ? shown.substring(0, 39) + "…" : shown,
                s.requests(),
                s.inputTokens(),
                s.cachedInputTokens(),
                s.outputTokens(),
                s.reasoningTokens(),
                s.images(),
                s.costUsd().setScale(6, java.math.RoundingMode.HALF_UP).toPlainString(),
                s.estimated());
    }
}
