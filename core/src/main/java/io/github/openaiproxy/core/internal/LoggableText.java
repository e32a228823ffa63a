package io.github.openaiproxy.core.internal;

/**
 * Text a client wrote, made safe for a log line: each control character (C0, DEL, C1: CR, LF, the ESC of ANSI
 * sequences) written as a backslash, {@code u} and four hex digits, and the whole cut to {@value #MAX} characters.
 * Verbatim, a CR/LF lets a client write log lines of its own and an escape sequence reaches the terminal of whoever
 * reads the log.
 */
@Internal
public final class LoggableText {
    /** The most characters of a client's text a log line repeats. */
    static final int MAX = 256;

    private LoggableText() {}

    /** {@code s} escaped and cut; {@code s} itself when it needs neither (the common case). */
    public static String of(String s) {
        if (s == null) {
            return null;
        }
        int n = s.length();
        boolean clean = n <= MAX;
        for (int i = 0; clean && i < n; i++) {
            clean = !isControl(s.charAt(i));
        }
        if (clean) {
            return s;
        }
        StringBuilder b = new StringBuilder(Math.min(n, MAX) + 16);
        for (int i = 0; i < n && b.length() < MAX; i++) {
            char c = s.charAt(i);
            if (isControl(c)) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.length() < n || n > MAX ? b.append("...").toString() : b.toString();
    }

    private static boolean isControl(char c) {
        return c < 0x20 || (c >= 0x7f && c < 0xa0);
    }
}
