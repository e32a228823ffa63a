package io.github.openaiproxy.demo;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.DeflaterOutputStream;

/**
 * The picture behind {@code b64_json}: a small PNG with a "DEMO" label in block letters, a dashed frame
 * and a row of swatches that differ by prompt. It is drawn into a pixel array and encoded here, so no AWT,
 * display or font is needed on a headless server.
 */
final class DemoPng {
    /** The longer side in pixels: small and quick, since a demo image only has to look like one. */
    static final int LONGEST_SIDE = 256;

    private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    /** 5x7 block letters, one string per row, '#' for a lit cell. */
    private static final String[][] GLYPHS = {
        {"####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."}, // D
        {"#####", "#....", "#....", "####.", "#....", "#....", "#####"}, // E
        {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"}, // M
        {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}, // O
    };

    private static final int WHITE = 0xffffff;

    private final int width;
    private final int height;
    private final int[] pixels;

    private DemoPng(ImageSize size) {
        this.width = size.width();
        this.height = size.height();
        this.pixels = new int[width * height];
    }

    /** Renders the demo picture for a prompt, in the aspect ratio of the requested size. */
    static byte[] render(String prompt, ImageSize requested, int variant) {
        DemoPng png = new DemoPng(requested.fit(LONGEST_SIDE));
        png.draw(prompt, variant);
        return png.encode();
    }

    private void draw(String prompt, int variant) {
        int hue = Palette.hue(prompt, variant);
        for (int y = 0; y < height; y++) {
            double t = (double) y / Math.max(1, height - 1);
            int rgb = Palette.rgb(hue + (int) (40 * t), 0.55 + 0.1 * t, 0.45 - 0.23 * t);
            fill(0, y, width, 1, rgb);
        }
        int unit = Math.min(width, height);
        drawDashedFrame(unit / 24, Math.max(2, unit / 96), Math.max(4, unit / 24));

        // Four letters of 5 cells with a 1-cell gap: 23 cells wide, filling about 70% of the width.
        int cell = Math.max(1, width * 7 / 10 / 23);
        int labelWidth = 23 * cell;
        int left = (width - labelWidth) / 2;
        int top = height * 2 / 5 - 7 * cell / 2;
        for (int g = 0; g < GLYPHS.length; g++) {
            drawGlyph(GLYPHS[g], left + g * 6 * cell, top, cell);
        }

        // A fingerprint of the prompt: eight swatches whose shades come from its bytes.
        byte[] bytes = prompt.getBytes(StandardCharsets.UTF_8);
        int swatch = Math.max(2, labelWidth / 8);
        int swatchTop = top + 9 * cell;
        for (int i = 0; i < 8; i++) {
            int b = bytes.length == 0 ? 0 : bytes[i % bytes.length] & 0xff;
            int rgb = Palette.rgb(hue + b * 3 + i * 20, 0.5, 0.9);
            fill(left + i * swatch + 1, swatchTop, swatch - 2, Math.max(2, swatch / 2), rgb);
        }
    }

    private void drawGlyph(String[] rows, int x, int y, int cell) {
        for (int r = 0; r < rows.length; r++) {
            for (int c = 0; c < rows[r].length(); c++) {
                if (rows[r].charAt(c) == '#') {
                    fill(x + c * cell, y + r * cell, cell, cell, WHITE);
                }
            }
        }
    }

    private void drawDashedFrame(int inset, int thickness, int dash) {
        for (int x = inset; x < width - inset; x += 2 * dash) {
            int len = Math.min(dash, width - inset - x);
            fill(x, inset, len, thickness, WHITE);
            fill(x, height - inset - thickness, len, thickness, WHITE);
        }
        for (int y = inset; y < height - inset; y += 2 * dash) {
            int len = Math.min(dash, height - inset - y);
            fill(inset, y, thickness, len, WHITE);
            fill(width - inset - thickness, y, thickness, len, WHITE);
        }
    }

    /** Fills a rectangle, clipped to the image. */
    private void fill(int x, int y, int w, int h, int rgb) {
        for (int row = Math.max(0, y); row < Math.min(height, y + h); row++) {
            for (int col = Math.max(0, x); col < Math.min(width, x + w); col++) {
                pixels[row * width + col] = rgb;
            }
        }
    }

    /** A truecolour PNG: IHDR, one zlib-compressed IDAT of unfiltered rows, IEND. */
    private byte[] encode() {
        try {
            ByteArrayOutputStream raw = new ByteArrayOutputStream();
            try (DeflaterOutputStream zlib = new DeflaterOutputStream(raw)) {
                byte[] row = new byte[1 + width * 3];
                for (int y = 0; y < height; y++) {
                    row[0] = 0; // filter type None
                    for (int x = 0; x < width; x++) {
                        int rgb = pixels[y * width + x];
                        row[1 + x * 3] = (byte) (rgb >> 16);
                        row[2 + x * 3] = (byte) (rgb >> 8);
                        row[3 + x * 3] = (byte) rgb;
                    }
                    zlib.write(row);
                }
            }
            ByteArrayOutputStream header = new ByteArrayOutputStream();
            DataOutputStream ihdr = new DataOutputStream(header);
            ihdr.writeInt(width);
            ihdr.writeInt(height);
            ihdr.writeByte(8); // bits per channel
            ihdr.writeByte(2); // colour type: RGB
            ihdr.writeByte(0); // compression: deflate
            ihdr.writeByte(0); // filter method
            ihdr.writeByte(0); // no interlace

            ByteArrayOutputStream png = new ByteArrayOutputStream();
            png.write(SIGNATURE);
            DataOutputStream out = new DataOutputStream(png);
            chunk(out, "IHDR", header.toByteArray());
            chunk(out, "IDAT", raw.toByteArray());
            chunk(out, "IEND", new byte[0]);
            return png.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException("in-memory streams do not fail", e);
        }
    }

    private static void chunk(DataOutputStream out, String type, byte[] data) throws IOException {
        byte[] typeBytes = type.getBytes(StandardCharsets.US_ASCII);
        CRC32 crc = new CRC32();
        crc.update(typeBytes);
        crc.update(data);
        out.writeInt(data.length);
        out.write(typeBytes);
        out.write(data);
        out.writeInt((int) crc.getValue());
    }
}
