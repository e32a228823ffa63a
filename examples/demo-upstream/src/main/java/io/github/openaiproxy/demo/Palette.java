package io.github.openaiproxy.demo;

/** Picks an image's colours from its prompt, so different prompts give visibly different pictures. */
final class Palette {
    private Palette() {}

    /** A hue in degrees, stable for a prompt across runs ({@link String#hashCode()} is specified). */
    static int hue(String prompt, int variant) {
        return Math.floorMod(prompt.hashCode() + variant * 47, 360);
    }

    /** An RGB colour ({@code 0xRRGGBB}) for a hue, saturation and value in {@code [0, 1]}. */
    static int rgb(int hue, double saturation, double value) {
        double h = Math.floorMod(hue, 360) / 60.0;
        double c = value * saturation;
        double x = c * (1 - Math.abs(h % 2 - 1));
        double m = value - c;
        double r;
        double g;
        double b;
        switch ((int) h) {
            case 0 -> {
                r = c;
                g = x;
                b = 0;
            }
            case 1 -> {
                r = x;
                g = c;
                b = 0;
            }
            case 2 -> {
                r = 0;
                g = c;
                b = x;
            }
            case 3 -> {
                r = 0;
                g = x;
                b = c;
            }
            case 4 -> {
                r = x;
                g = 0;
                b = c;
            }
            default -> {
                r = c;
                g = 0;
                b = x;
            }
        }
        return channel(r + m) << 16 | channel(g + m) << 8 | channel(b + m);
    }

    static String hex(int rgb) {
        return String.format("#%06x", rgb & 0xffffff);
    }

    private static int channel(double v) {
        return (int) Math.round(Math.max(0, Math.min(1, v)) * 255);
    }
}
