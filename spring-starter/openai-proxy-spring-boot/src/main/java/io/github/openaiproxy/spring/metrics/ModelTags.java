package io.github.openaiproxy.spring.metrics;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * Bounds the values of the {@code model} tag. The model is free text chosen by clients, and every distinct
 * tag value is a new time series: a client sending random model names would otherwise grow the metrics
 * without limit. A model becomes a tag value only once the upstream has answered a request for it
 * successfully (the upstream knows which models exist), only when it looks like a model id, and only while
 * fewer than {@code max} values are known. Anything else is {@value #OTHER}; no model is {@value #NONE}.
 */
final class ModelTags {
    static final String NONE = "none";
    static final String OTHER = "other";
    private static final Pattern MODEL_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}");

    private final int max;
    private final Set<String> known = ConcurrentHashMap.newKeySet();

    ModelTags(int max) {
        this.max = Math.max(0, max);
    }

    /**
     * The tag value for a model.
     *
     * @param accepted whether the upstream answered this request successfully
     */
    String tag(String model, boolean accepted) {
        if (model == null) {
            return NONE;
        }
        if (known.contains(model)) {
            return model;
        }
        if (!accepted || !MODEL_ID.matcher(model).matches()) {
            return OTHER;
        }
        synchronized (this) {
            if (known.contains(model) || known.size() < max) {
                known.add(model);
                return model;
            }
        }
        return OTHER;
    }
}
