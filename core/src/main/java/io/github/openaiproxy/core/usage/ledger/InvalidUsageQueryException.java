package io.github.openaiproxy.core.usage.ledger;

/** A usage query refused: {@link #parameter()} names what was wrong; the message says why (400 on the API). */
public final class InvalidUsageQueryException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String parameter;

    public InvalidUsageQueryException(String parameter, String message) {
        super(message);
        this.parameter = parameter;
    }

    /** The parameter at fault: {@code since}, {@code until}, {@code by}, {@code key}, {@code identity}, {@code limit}. */
    public String parameter() {
        return parameter;
    }
}
