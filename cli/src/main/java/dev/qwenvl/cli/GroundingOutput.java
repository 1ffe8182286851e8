package dev.qwenvl.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qwenvl.Image;
import dev.qwenvl.ImageGeometry;
import dev.qwenvl.grounding.Detection;
import dev.qwenvl.grounding.Grounding;
import dev.qwenvl.grounding.Shape;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** What {@code --detect}, {@code --boxes} and {@code --json} make of an answer's detections. */
final class GroundingOutput {
    private GroundingOutput() {
    }

    /** The things of {@code --detect "traffic sign, car"}: comma-separated, blanks refused. */
    static List<String> things(String detect) {
        List<String> things = Arrays.stream(detect.split(",", -1)).map(String::strip).toList();
        if (things.stream().anyMatch(String::isEmpty)) {
            throw new IllegalArgumentException("--detect takes things separated by commas, none empty: '" + detect
                    + "'");
        }
        return things;
    }

    /** Draws the detections onto {@code original} and writes the PNG to {@code file}. */
    static void writeBoxes(Image original, List<Detection> detections, Path file) {
        try {
            Grounding.writePng(Grounding.draw(original, detections), file);
        } catch (IOException e) {
            throw new InputException("cannot write --boxes " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * {@code [{"image": 0, "label": "car", "bbox_2d": [x1, y1, x2, y2], "model_bbox_2d": [...], "flags": [...]}, ...]}
     * in original pixels ({@code point_2d} for points; {@code problem} instead of coordinates when invalid).
     */
    static ArrayNode detectionsJson(List<Detection> detections) {
        ArrayNode array = JsonNodeFactory.instance.arrayNode();
        for (Detection d : detections) {
            ObjectNode o = array.addObject();
            o.put("image", d.image());
            o.put("label", d.label());
            if (d.isValid()) {
                String key = d.shape() instanceof Shape.Box ? "bbox_2d" : "point_2d";
                coordinates(o.putArray(key), d.shape());
                coordinates(o.putArray("model_" + key), d.written());
            } else {
                o.put("problem", d.problem());
            }
            ArrayNode flags = o.putArray("flags");
            d.flags().forEach(f -> flags.add(f.name().toLowerCase(Locale.ROOT)));
        }
        return array;
    }

    /** {@code [{"original": [w, h], "frame": [w, h], "content": [x, y, w, h], "tokens": [nx, ny]}, ...]}. */
    static ArrayNode imagesJson(List<ImageGeometry> images) {
        ArrayNode array = JsonNodeFactory.instance.arrayNode();
        for (ImageGeometry g : images) {
            ObjectNode o = array.addObject();
            o.putArray("original").add(g.originalWidth()).add(g.originalHeight());
            o.putArray("frame").add(g.frameWidth()).add(g.frameHeight());
            o.putArray("content").add(g.contentX()).add(g.contentY()).add(g.contentWidth()).add(g.contentHeight());
            o.putArray("tokens").add(g.tokensX()).add(g.tokensY());
        }
        return array;
    }

    /** {@code 2 detections: traffic sign [12.0, 30.5, 80.0, 99.1], car (invalid: ...)} for stderr. */
    static String summary(List<Detection> detections) {
        StringBuilder s = new StringBuilder().append(detections.size())
                .append(detections.size() == 1 ? " detection" : " detections");
        for (int i = 0; i < detections.size(); i++) {
            Detection d = detections.get(i);
            s.append(i == 0 ? ": " : ", ").append(d.label().isEmpty() ? "(no label)" : d.label());
            s.append(d.isValid() ? " " + format(d.shape()) : " (invalid: " + d.problem() + ")");
        }
        return s.toString();
    }

    private static void coordinates(ArrayNode a, Shape shape) {
        switch (shape) {
            case Shape.Box b -> a.add(round(b.x1())).add(round(b.y1())).add(round(b.x2())).add(round(b.y2()));
            case Shape.Point p -> a.add(round(p.x())).add(round(p.y()));
        }
    }

    private static String format(Shape shape) {
        return switch (shape) {
            case Shape.Box b -> String.format(Locale.ROOT, "[%.1f, %.1f, %.1f, %.1f]", b.x1(), b.y1(), b.x2(), b.y2());
            case Shape.Point p -> String.format(Locale.ROOT, "(%.1f, %.1f)", p.x(), p.y());
        };
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
