package io.github.openaiproxy.core.images;

import java.util.Optional;

/** The media type the first bytes of an image show: PNG, JPEG, WebP or GIF; nothing else is an image here. */
final class ImageSignatures {
    /** How many leading bytes {@link #detect} looks at. */
    static final int LENGTH = 12;

    private ImageSignatures() {}

    static Optional<String> detect(byte[] b, int n) {
        if (n >= 8
                && (b[0] & 0xff) == 0x89
                && b[1] == 'P'
                && b[2] == 'N'
                && b[3] == 'G'
                && b[4] == '\r'
                && b[5] == '\n'
                && b[6] == 0x1a
                && b[7] == '\n') {
            return Optional.of("image/png");
        }
        if (n >= 3 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8 && (b[2] & 0xff) == 0xff) {
            return Optional.of("image/jpeg");
        }
        if (n >= 12
                && b[0] == 'R'
                && b[1] == 'I'
                && b[2] == 'F'
                && b[3] == 'F'
                && b[8] == 'W'
                && b[9] == 'E'
                && b[10] == 'B'
                && b[11] == 'P') {
            return Optional.of("image/webp");
        }
        if (n >= 6
                && b[0] == 'G'
                && b[1] == 'I'
                && b[2] == 'F'
                && b[3] == '8'
                && (b[4] == '7' || b[4] == '9')
                && b[5] == 'a') {
            return Optional.of("image/gif");
        }
        return Optional.empty();
    }
}
