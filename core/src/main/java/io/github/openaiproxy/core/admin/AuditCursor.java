package io.github.openaiproxy.core.admin;

import io.github.openaiproxy.core.access.AuditPage;

/**
 * The {@code after} cursor of {@code GET /admin/audit}: opaque to clients as the keys' one is ({@link KeyCursor}:
 * base64url of a version and, here, the {@linkplain AuditPage position} the page ended with). It is a place in the
 * log, never a credential nor a filter: whoever holds one may read the whole log anyway. Anything that does not
 * decode to a current-version cursor holding a position (a decimal of at least 1, without sign or leading zero) is
 * refused before a log sees it; a key cursor is not one, nor an audit cursor a key cursor.
 */
final class AuditCursor {
    /** The version of the cursors made now; one of another version is refused (the client starts over). */
    private static final String VERSION = "a1:";
    /** Longer than any cursor made here: refused before it is decoded. */
    private static final int MAX_LENGTH = 100;

    private AuditCursor() {}

    /** The cursor of the page below {@code position}, or {@code null} when there is none. */
    static String encode(Long position) {
        return position == null ? null : KeyCursor.encodeText(VERSION + position);
    }

    /**
     * The position a cursor stands at, the next page's {@code before}; {@code null} for none (absent or empty: the
     * first page).
     *
     * @throws AdminException 400 naming {@code after} for anything this class did not make
     */
    static Long decode(String cursor) {
        if (cursor == null || cursor.isEmpty()) {
            return null;
        }
        String text = cursor.length() > MAX_LENGTH ? null : KeyCursor.decodeText(cursor);
        Long position = text != null && text.startsWith(VERSION) ? position(text.substring(VERSION.length())) : null;
        if (position == null) {
            // Nothing of the cursor is echoed, as for the keys' cursor.
            throw new AdminException(
                    400,
                    "invalid_request",
                    "after must be the next_after of a previous page of this listing; leave it out for the first page",
                    "after");
        }
        return position;
    }

    /** The position {@code digits} writes as {@link Long#toString} would, or {@code null}. */
    private static Long position(String digits) {
        if (digits.isEmpty()
                || digits.length() > 19
                || digits.charAt(0) == '0'
                || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return null;
        }
        try {
            return Long.parseLong(digits);
        } catch (NumberFormatException e) {
            return null; // above Long.MAX_VALUE
        }
    }
}
