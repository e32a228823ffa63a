package io.github.openaiproxy.core.observe;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * Bounds the values of a metric tag (or attribute) that clients choose, such as the model. Every distinct value is
 * a new time series: a client sending random model names would otherwise grow the metrics without limit. A value
 * becomes a tag only once the upstream has answered a request for it successfully (the upstream knows which models
 * exist), only when it looks like an id, and only while fewer than {@code max} values are known. Anything else is
 * the {@code other} value; no value is the {@code none} value.
 */
public final class ModelTags {
    private final int max;
    private final String none;
    private final String other;
    private final Pattern id;
    private final Set<String> known = ConcurrentHashMap.newKeySet();

    /**
     * @param max how many distinct values may become tags
     * @param none the tag of no value ({@code null} allowed: no tag)
     * @param other the tag of every value not allowed
     * @param maxLength the longest value that may become a tag
     */
    public ModelTags(int max, String none, String other, int maxLength) {
        this.max = Math.max(0, max);
        this.none = none;
        this.other = other;
        this.id = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:/@+-]{0," + Math.max(0, maxLength - 1) + "}");
    }

    /** Whether {@code value} is a tag already: an upstream answered it successfully and it was within the bound. */
    public boolean isKnown(String value) {
        return value != null && known.contains(value);
    }

    /**
     * The tag value for {@code value}.
     *
     * @param accepted whether the upstream answered this request successfully
     */
    public String tag(String value, boolean accepted) {
        if (value == null) {
            return none;
        }
        if (known.contains(value)) {
            return value;
        }
        if (!accepted || !id.matcher(value).matches()) {
            return other;
        }
        synchronized (this) {
            if (known.contains(value) || known.size() < max) {
                known.add(value);
                return value;
            }
        }
        return other;
    }
}
