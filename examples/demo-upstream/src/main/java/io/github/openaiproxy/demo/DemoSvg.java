package io.github.openaiproxy.demo;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/** The picture behind an image URL: an SVG with a large "DEMO" label and the prompt written on it. */
final class DemoSvg {
    private static final int LINE_LENGTH = 34;
    private static final int MAX_LINES = 5;

    private DemoSvg() {}

    /** A {@code data:} URL, which any browser shows without a server holding the image. */
    static String dataUrl(String prompt, ImageSize size, int variant) {
        byte[] svg = render(prompt, size, variant).getBytes(StandardCharsets.UTF_8);
        return "data:image/svg+xml;base64," + Base64.getEncoder().encodeToString(svg);
    }

    static String render(String prompt, ImageSize size, int variant) {
        int w = size.width();
        int h = size.height();
        int unit = Math.min(w, h);
        int hue = Palette.hue(prompt, variant);
        String top = Palette.hex(Palette.rgb(hue, 0.55, 0.45));
        String bottom = Palette.hex(Palette.rgb(hue + 40, 0.65, 0.22));
        int inset = unit / 24;
        int labelSize = unit / 5;
        int textSize = Math.max(12, unit / 22);

        StringBuilder svg = new StringBuilder(2048);
        svg.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"")
                .append(w)
                .append("\" height=\"")
                .append(h)
                .append("\" viewBox=\"0 0 ")
                .append(w)
                .append(' ')
                .append(h)
                .append("\">\n");
        svg.append("<title>DEMO image (canned, offline demo upstream): ")
                .append(escape(clean(prompt)))
                .append("</title>\n");
        svg.append("<defs><linearGradient id=\"bg\" x1=\"0\" y1=\"0\" x2=\"1\" y2=\"1\">")
                .append("<stop offset=\"0\" stop-color=\"")
                .append(top)
                .append("\"/><stop offset=\"1\" stop-color=\"")
                .append(bottom)
                .append("\"/></linearGradient></defs>\n");
        svg.append("<rect width=\"100%\" height=\"100%\" fill=\"url(#bg)\"/>\n");
        svg.append("<rect x=\"")
                .append(inset)
                .append("\" y=\"")
                .append(inset)
                .append("\" width=\"")
                .append(w - 2 * inset)
                .append("\" height=\"")
                .append(h - 2 * inset)
                .append("\" fill=\"none\" stroke=\"#ffffff\" stroke-opacity=\"0.6\" stroke-width=\"")
                .append(Math.max(2, unit / 128))
                .append("\" stroke-dasharray=\"")
                .append(unit / 32)
                .append(' ')
                .append(unit / 48)
                .append("\"/>\n");
        svg.append("<text x=\"50%\" y=\"")
                .append(h * 2 / 5)
                .append("\" text-anchor=\"middle\" font-family=\"Helvetica, Arial, sans-serif\"")
                .append(" font-weight=\"bold\" font-size=\"")
                .append(labelSize)
                .append("\" letter-spacing=\"")
                .append(labelSize / 16)
                .append("\" fill=\"#ffffff\">DEMO</text>\n");
        svg.append("<text text-anchor=\"middle\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"")
                .append(textSize)
                .append("\" fill=\"#ffffff\">");
        List<String> lines = wrap(clean(prompt));
        int y = h * 2 / 5 + labelSize / 2 + textSize;
        for (String line : lines) {
            svg.append("<tspan x=\"50%\" y=\"")
                    .append(y)
                    .append("\">")
                    .append(escape(line))
                    .append("</tspan>");
            y += textSize * 13 / 10;
        }
        svg.append("</text>\n");
        svg.append("<text x=\"50%\" y=\"")
                .append(h - inset - textSize)
                .append("\" text-anchor=\"middle\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"")
                .append(Math.max(10, textSize * 3 / 4))
                .append("\" fill=\"#ffffff\" fill-opacity=\"0.8\">")
                .append("Canned image - offline demo upstream")
                .append("</text>\n");
        svg.append("</svg>\n");
        return svg.toString();
    }

    /** Breaks the prompt into a few lines at spaces, cutting overlong words and ending with "..." when cut. */
    static List<String> wrap(String text) {
        List<String> lines = new ArrayList<>();
        StringBuilder line = new StringBuilder();
        for (String word : text.split(" ")) {
            while (word.length() > LINE_LENGTH) {
                if (!line.isEmpty()) {
                    lines.add(line.toString());
                    line.setLength(0);
                }
                // Never split a surrogate pair: half an emoji is not valid text.
                int cut = Character.isHighSurrogate(word.charAt(LINE_LENGTH - 1)) ? LINE_LENGTH - 1 : LINE_LENGTH;
                lines.add(word.substring(0, cut));
                word = word.substring(cut);
            }
            if (!line.isEmpty() && line.length() + 1 + word.length() > LINE_LENGTH) {
                lines.add(line.toString());
                line.setLength(0);
            }
            if (!line.isEmpty()) {
                line.append(' ');
            }
            line.append(word);
        }
        if (!line.isEmpty()) {
            lines.add(line.toString());
        }
        if (lines.size() > MAX_LINES) {
            lines = new ArrayList<>(lines.subList(0, MAX_LINES));
            lines.set(MAX_LINES - 1, lines.get(MAX_LINES - 1) + "...");
        }
        return lines;
    }

    /** One line of text without the control characters XML 1.0 forbids. */
    private static String clean(String text) {
        return text.replaceAll("[\\p{Cntrl}\\s]+", " ").strip();
    }

    private static String escape(String text) {
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '&' -> out.append("&amp;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&apos;");
                default -> out.append(c);
            }
        }
        return out.toString();
    }
}
