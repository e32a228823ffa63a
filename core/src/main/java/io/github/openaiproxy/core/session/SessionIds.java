package io.github.openaiproxy.core.session;

import java.security.SecureRandom;
import java.util.Base64;
import java.util.regex.Pattern;

/** Session and message ids: random, URL-safe, and quick to tell from garbage. */
public final class SessionIds {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Base64.Encoder ENCODER = Base64.getUrlEncoder().withoutPadding();
    /** What any id of this store looks like; anything else is unknown without asking the database. */
    private static final Pattern WELL_FORMED = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    private SessionIds() {}

    /** A new session id: {@code ses_} and 128 random bits in URL-safe base64 (26 characters in all). */
    public static String newSessionId() {
        return "ses_" + random(16);
    }

    /** A new message id: {@code msg_} and 96 random bits. */
    public static String newMessageId() {
        return "msg_" + random(12);
    }

    /** Whether {@code id} could be an id at all (stores answer "unknown" for anything else). */
    public static boolean isWellFormed(String id) {
        return id != null && WELL_FORMED.matcher(id).matches();
    }

    private static String random(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return ENCODER.encodeToString(b);
    }
}
