package io.github.openaiproxy.core.admin;

import io.github.openaiproxy.core.access.ProxyKeyPage;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * The {@code after} cursor of {@code GET /admin/keys}: opaque to clients (base64url of a version and the id the
 * page ended with), so that the order may change without changing the API. It is a place in the listing, never a
 * credential nor a filter: whoever holds one may list every key anyway. Anything that does not decode to a
 * current-version cursor holding an id of the proxy's shape is refused before a store sees it.
 */
final class KeyCursor {
    /** The version of the cursors made now; one of another version is refused (the client starts over). */
    private static final String VERSION = "k1:";
    /** Longer than any cursor made here: refused before it is decoded. */
    private static final int MAX_LENGTH = 200;

    private KeyCursor() {}

    /** The cursor of the page after {@code id}, or {@code null} when there is none. */
    static String encode(String id) {
        return id == null ? null : encodeText(VERSION + id);
    }

    /** {@code text} as an opaque cursor: base64url of its UTF-8, unpadded (the audit cursor's form too). */
    static String encodeText(String text) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The id a cursor stands after; {@code null} for none (absent or empty: the first page).
     *
     * @throws AdminException 400 naming {@code after} for anything this class did not make
     */
    static String decode(String cursor) {
        if (cursor == null || cursor.isEmpty()) {
            return null;
        }
        String text = cursor.length() > MAX_LENGTH ? null : decodeText(cursor);
        String id = text != null && text.startsWith(VERSION) ? text.substring(VERSION.length()) : null;
        if (!ProxyKeyPage.isPageableId(id)) {
            // Nothing of the cursor is echoed: it is the client's text, and says nothing useful once garbled.
            throw new AdminException(
                    400,
                    "invalid_request",
                    "after must be the next_after of a previous page of this listing; leave it out for the first page",
                    "after");
        }
        return id;
    }

    /** The text an opaque cursor holds, or {@code null} when it is not base64url of UTF-8. */
    static String decodeText(String cursor) {
        try {
            byte[] bytes = Base64.getUrlDecoder().decode(cursor);
            return StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (IllegalArgumentException | CharacterCodingException e) {
            return null;
        }
    }
}
