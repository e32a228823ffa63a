package io.github.openaiproxy.core.access;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.core.internal.Json;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A {@link Policy} as one JSON object whose fields are the rule names of {@code policies.<name>.<rule>}, so a
 * policy reads the same in settings, in the admin API and in the database:
 *
 * <pre>{@code
 * {"routes": ["POST /", "POST /v1/chat/completions"], "models": ["gpt-4o-mini", "gpt-4.1-*"],
 *  "max-tokens": 1000, "max-n": 1, "over-cap": "clamp", "image-models": [], "image-sizes": [],
 *  "image-qualities": [], "requests-per-minute": 60, "cost-per-day": "5.00"}
 * }</pre>
 *
 * Every field is optional (absent: no rule); an unknown field or a value of the wrong type is refused.
 */
public final class PolicyJson {
    /** What a policy's name may be: as in a setting key. */
    public static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");

    private static final int MAX_LIST = 1000;
    private static final int MAX_ITEM = 200;
    private static final Set<String> FIELDS = Set.of(
            "name",
            "routes",
            "models",
            "max-tokens",
            "max-n",
            "over-cap",
            "image-models",
            "image-sizes",
            "image-qualities",
            "requests-per-minute",
            "requests-per-hour",
            "requests-per-day",
            "tokens-per-minute",
            "tokens-per-day",
            "tokens-per-month",
            "concurrent-requests",
            "cost-per-day",
            "cost-per-month",
            "unpriced");

    private PolicyJson() {}

    /** The policy as a JSON object, with its name. */
    public static ObjectNode toNode(Policy p) {
        ObjectNode n = Json.object();
        n.put("name", p.name());
        list(n, "routes", p.routes());
        list(n, "models", p.models());
        n.put("max-tokens", p.maxTokens());
        n.put("max-n", p.maxN());
        n.put("over-cap", p.overCap().name().toLowerCase(Locale.ROOT));
        list(n, "image-models", p.imageModels());
        list(n, "image-sizes", p.imageSizes());
        list(n, "image-qualities", p.imageQualities());
        Policy.Quotas q = p.quotas();
        n.put("requests-per-minute", q.requestsPerMinute());
        n.put("requests-per-hour", q.requestsPerHour());
        n.put("requests-per-day", q.requestsPerDay());
        n.put("tokens-per-minute", q.tokensPerMinute());
        n.put("tokens-per-day", q.tokensPerDay());
        n.put("tokens-per-month", q.tokensPerMonth());
        n.put("concurrent-requests", q.concurrentRequests());
        n.put("cost-per-day", q.costPerDay() == null ? null : q.costPerDay().toPlainString());
        n.put(
                "cost-per-month",
                q.costPerMonth() == null ? null : q.costPerMonth().toPlainString());
        n.put("unpriced", q.unpriced().name().toLowerCase(Locale.ROOT));
        return n;
    }

    /** The policy as JSON text. */
    public static String toJson(Policy p) {
        return new String(Json.bytes(toNode(p)), StandardCharsets.UTF_8);
    }

    /** Reads a policy named {@code name} from JSON text; see {@link #fromNode}. */
    public static Policy fromJson(String name, String json) {
        JsonNode node;
        try {
            node = Json.parse(json.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalArgumentException("the policy is not valid JSON");
        }
        return fromNode(name, node);
    }

    /**
     * Reads a policy named {@code name} from a JSON object. A {@code name} field, when present, must be the
     * same name.
     *
     * @throws IllegalArgumentException naming the field at fault
     */
    public static Policy fromNode(String name, JsonNode n) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("a policy name is 1-64 letters, digits, '.', '_' or '-'");
        }
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException("a policy is a JSON object");
        }
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String field = it.next();
            if (!FIELDS.contains(field)) {
                throw new IllegalArgumentException(
                        "unknown policy rule: " + (field.length() > 40 ? field.substring(0, 40) + "..." : field));
            }
        }
        JsonNode named = n.get("name");
        if (named != null
                && !named.isNull()
                && !(named.isTextual() && named.asText().equals(name))) {
            throw new IllegalArgumentException("name: must be the policy's name, " + name);
        }
        String overCap = text(n, "over-cap");
        Policy.OverCap over;
        if (overCap == null || overCap.equalsIgnoreCase("clamp")) {
            over = Policy.OverCap.CLAMP;
        } else if (overCap.equalsIgnoreCase("refuse")) {
            over = Policy.OverCap.REFUSE;
        } else {
            throw new IllegalArgumentException("over-cap: must be clamp or refuse");
        }
        Long maxTokens = number(n, "max-tokens");
        Long maxN = number(n, "max-n");
        return new Policy(
                name,
                strings(n, "routes"),
                strings(n, "models"),
                maxTokens == null ? null : Math.toIntExact(Math.min(maxTokens, Integer.MAX_VALUE)),
                maxN == null ? null : Math.toIntExact(Math.min(maxN, Integer.MAX_VALUE)),
                over,
                strings(n, "image-models"),
                strings(n, "image-sizes"),
                strings(n, "image-qualities"),
                new Policy.Quotas(
                        number(n, "requests-per-minute"),
                        number(n, "requests-per-hour"),
                        number(n, "requests-per-day"),
                        number(n, "tokens-per-minute"),
                        number(n, "tokens-per-day"),
                        number(n, "tokens-per-month"),
                        number(n, "concurrent-requests"),
                        money(n, "cost-per-day"),
                        money(n, "cost-per-month"),
                        unpriced(text(n, "unpriced"))));
    }

    private static Policy.Unpriced unpriced(String v) {
        if (v == null || v.equalsIgnoreCase("refuse")) {
            return Policy.Unpriced.REFUSE;
        }
        if (v.equalsIgnoreCase("default")) {
            return Policy.Unpriced.DEFAULT;
        }
        throw new IllegalArgumentException("unpriced: must be refuse or default");
    }

    private static void list(ObjectNode n, String field, List<String> values) {
        ArrayNode a = n.putArray(field);
        values.forEach(a::add);
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw new IllegalArgumentException(field + ": must be a string");
        }
        return v.asText();
    }

    private static List<String> strings(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return List.of();
        }
        if (!v.isArray() || v.size() > MAX_LIST) {
            throw new IllegalArgumentException(field + ": must be a list of at most " + MAX_LIST + " strings");
        }
        List<String> out = new ArrayList<>(v.size());
        for (JsonNode item : v) {
            if (!item.isTextual() || item.asText().isBlank() || item.asText().length() > MAX_ITEM) {
                throw new IllegalArgumentException(
                        field + ": each item must be a non-blank string of at most " + MAX_ITEM + " characters");
            }
            out.add(item.asText().strip());
        }
        return out;
    }

    private static Long number(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0) {
            throw new IllegalArgumentException(field + ": must be a whole number, 0 or more");
        }
        return v.asLong();
    }

    private static BigDecimal money(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        BigDecimal d;
        try {
            if (v.isNumber()) {
                d = v.decimalValue();
            } else if (v.isTextual() && v.asText().length() <= 40) {
                d = new BigDecimal(v.asText().strip());
            } else {
                throw new NumberFormatException();
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(field + ": must be an amount in US dollars");
        }
        if (d.signum() < 0 || d.precision() - d.scale() > 15) {
            throw new IllegalArgumentException(field + ": must be an amount in US dollars, 0 or more");
        }
        return d;
    }
}
