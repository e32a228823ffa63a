package io.github.openaiproxy.demo;

/**
 * The pixel size a request asks for ({@code "1024x1792"}); anything else, {@code "auto"} included, is
 * 1024x1024, the default of every image model.
 */
record ImageSize(int width, int height) {
    static final ImageSize DEFAULT = new ImageSize(1024, 1024);

    ImageSize {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("image size must be positive");
        }
    }

    static ImageSize parse(String text) {
        if (text == null) {
            return DEFAULT;
        }
        int x = text.indexOf('x');
        try {
            int w = Integer.parseInt(text.substring(0, Math.max(x, 0)));
            int h = Integer.parseInt(text.substring(x + 1));
            // The models top out at 1792 (dall-e-3) and 1536 (gpt-image-1); the cap keeps SVGs sane.
            return w >= 16 && h >= 16 && w <= 4096 && h <= 4096 ? new ImageSize(w, h) : DEFAULT;
        } catch (NumberFormatException | StringIndexOutOfBoundsException e) {
            return DEFAULT;
        }
    }

    /** This size scaled down, keeping its aspect ratio, so that its longer side is {@code longest}. */
    ImageSize fit(int longest) {
        int max = Math.max(width, height);
        return new ImageSize(Math.max(1, width * longest / max), Math.max(1, height * longest / max));
    }

    @Override
    public String toString() {
        return width + "x" + height;
    }
}
