package dev.qwenvl.grounding;

/** Where a detection is: a box or a point, in pixels of some image (x to the right, y down, origin top left). */
public sealed interface Shape permits Shape.Box, Shape.Point {

    /**
     * A box by two corners, as the model wrote them: {@code (x1, y1)} should be the top left and {@code (x2, y2)} the
     * bottom right; an inverted box keeps its corners as written (see {@link Detection.Flag#INVERTED}).
     *
     * @param x1 first corner, horizontal
     * @param y1 first corner, vertical
     * @param x2 second corner, horizontal
     * @param y2 second corner, vertical
     */
    record Box(double x1, double y1, double x2, double y2) implements Shape {
    }

    /**
     * A point.
     *
     * @param x horizontal
     * @param y vertical
     */
    record Point(double x, double y) implements Shape {
    }
}
