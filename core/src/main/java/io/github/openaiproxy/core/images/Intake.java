package io.github.openaiproxy.core.images;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/** The stream a store reads an image from: counts, digests and cuts it at the size cap. */
final class Intake extends FilterInputStream {
    private static final Pattern CONTENT_TYPE = Pattern.compile("image/[a-z0-9][a-z0-9.+-]{0,60}");

    private final MessageDigest digest;
    private final long maxSize;
    private long count;
    private boolean tooLarge;

    Intake(InputStream in, long maxSize) {
        super(in);
        this.maxSize = maxSize;
        try {
            this.digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String checkContentType(String contentType) {
        if (contentType == null || !CONTENT_TYPE.matcher(contentType).matches()) {
            throw new IllegalArgumentException("not an image content type");
        }
        return contentType;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        int n = super.read(b, off, len);
        if (n > 0) {
            count += n;
            if (count > maxSize) {
                tooLarge = true;
                throw new IOException("image larger than " + maxSize + " bytes");
            }
            digest.update(b, off, n);
        }
        return n;
    }

    @Override
    public long skip(long n) throws IOException {
        throw new IOException("skip is not supported");
    }

    /** Whether the stream went past the cap. */
    boolean tooLarge() {
        return tooLarge;
    }

    long count() {
        return count;
    }

    String sha256() {
        return HexFormat.of().formatHex(digest.digest());
    }

    /** Reads what is left (a driver may stop at the length it was told). */
    void drain() throws IOException {
        byte[] buf = new byte[8192];
        while (read(buf, 0, buf.length) >= 0) {
            // counted and digested
        }
    }
}
