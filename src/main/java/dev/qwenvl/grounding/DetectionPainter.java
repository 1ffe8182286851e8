package dev.qwenvl.grounding;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Draws detections onto a copy of an image with Java2D: box edges as solid bands of whole pixels inside the box
 * (so the outermost band lies exactly on the mapped edge), points as discs, each label on a tag of its colour.
 * Line width and type size follow the image's shorter side, so tags stay readable on thumbnails and on photos.
 */
final class DetectionPainter {
    /** Sasha Trubetskoy's distinct colours, most distinct first; further labels get golden-angle hues. */
    private static final int[] PALETTE = {0xE6194B, 0x3CB44B, 0x4363D8, 0xF58231, 0x911EB4, 0x42D4F4, 0xF032E6,
        0xBFEF45, 0xFFE119, 0x469990, 0x9A6324, 0x800000, 0xAAFFC3, 0x808000, 0x000075};

    private DetectionPainter() {
    }

    /** Line width in pixels for an image whose shorter side is {@code side}. */
    private static int lineWidth(int side) {
        return Math.max(2, side / 160);
    }

    /** The colour of the {@code n}-th distinct label. */
    private static Color colour(int n) {
        return n < PALETTE.length ? new Color(PALETTE[n])
                : Color.getHSBColor((float) ((n * 0.6180339887) % 1.0), 0.85f, 0.9f);
    }

    static BufferedImage draw(BufferedImage original, List<Detection> detections) {
        int w = original.getWidth();
        int h = original.getHeight();
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.drawImage(original, 0, 0, null);
            int line = lineWidth(Math.min(w, h));
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, Math.clamp(Math.min(w, h) / 40, 10, 160)));
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            Map<String, Color> colours = new HashMap<>();
            for (Detection d : detections) {
                if (!d.isValid()) {
                    continue;
                }
                Color c = colours.computeIfAbsent(d.label(), l -> colour(colours.size()));
                g.setColor(c);
                int[] anchor = switch (d.shape()) {
                    case Shape.Box b -> box(g, b, w, h, line);
                    case Shape.Point p -> point(g, p, w, h, line);
                };
                String text = d.label() + (d.flags().contains(Detection.Flag.INVERTED) ? " (inverted)" : "");
                if (!text.isEmpty()) {
                    tag(g, text, c, anchor[0], anchor[1], anchor[2], w, h);
                }
            }
        } finally {
            g.dispose();
        }
        return out;
    }

    /** Fills the four edges; returns the left column, top row and the row just inside the top edge. */
    private static int[] box(Graphics2D g, Shape.Box b, int w, int h, int line) {
        int left = pixel(Math.min(b.x1(), b.x2()), w);
        int top = pixel(Math.min(b.y1(), b.y2()), h);
        int right = Math.max(left, pixel(Math.ceil(Math.max(b.x1(), b.x2())) - 1, w));
        int bottom = Math.max(top, pixel(Math.ceil(Math.max(b.y1(), b.y2())) - 1, h));
        int bw = right - left + 1;
        int bh = bottom - top + 1;
        int t = Math.min(line, Math.min(bw, bh));
        g.fillRect(left, top, bw, t);
        g.fillRect(left, bottom - t + 1, bw, t);
        g.fillRect(left, top, t, bh);
        g.fillRect(right - t + 1, top, t, bh);
        return new int[] {left, top, top + t};
    }

    private static int[] point(Graphics2D g, Shape.Point p, int w, int h, int line) {
        int x = pixel(p.x(), w);
        int y = pixel(p.y(), h);
        int r = 2 * line;
        Color c = g.getColor();
        g.setColor(Color.WHITE); // a ring that shows the disc on dark and on same-coloured ground
        g.fillOval(x - r - 1, y - r - 1, 2 * r + 3, 2 * r + 3);
        g.setColor(c);
        g.fillOval(x - r, y - r, 2 * r + 1, 2 * r + 1);
        return new int[] {x + r + 1, y - r, y + r + 1};
    }

    /** A filled tag above {@code (x, top)}, or from {@code below} down when there is no room above; kept on the image. */
    private static void tag(Graphics2D g, String text, Color c, int x, int top, int below, int w, int h) {
        FontMetrics fm = g.getFontMetrics();
        int pad = Math.max(1, fm.getHeight() / 8);
        int tw = fm.stringWidth(text) + 2 * pad;
        int th = fm.getAscent() + fm.getDescent() + 2 * pad;
        int tx = Math.max(0, Math.min(x, w - tw));
        int ty = top - th >= 0 ? top - th : Math.max(0, Math.min(below, h - th));
        g.setColor(c);
        g.fillRect(tx, ty, tw, th);
        double luminance = 0.2126 * c.getRed() + 0.7152 * c.getGreen() + 0.0722 * c.getBlue();
        g.setColor(luminance > 140 ? Color.BLACK : Color.WHITE);
        g.drawString(text, tx + pad, ty + pad + fm.getAscent());
    }

    /** The pixel column (or row) that holds coordinate {@code v}, kept on the image. */
    private static int pixel(double v, int size) {
        return (int) Math.clamp(Math.floor(v), 0, size - 1);
    }
}
