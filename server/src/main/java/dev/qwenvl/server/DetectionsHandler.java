package dev.qwenvl.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qwenvl.Image;
import dev.qwenvl.ImageDecoder;
import dev.qwenvl.ImageException;
import dev.qwenvl.ImageGeometry;
import dev.qwenvl.grounding.Detection;
import dev.qwenvl.grounding.Grounding;
import dev.qwenvl.grounding.Shape;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.util.Iterator;
import java.util.Locale;
import java.util.Set;
import java.util.function.Supplier;

/**
 * {@code POST /v1/detections} (qwenvl's own; OpenAI and llama-server have none): reads the boxes and points of a
 * grounding answer ({@code {"text": ANSWER, "image_url": {"url": IMAGE}}}) onto the image the question was about,
 * in its original pixels, with the facade's parser and libmtmd's geometry for that image; the chat page draws them.
 */
final class DetectionsHandler extends ApiHandler {
    private static final Set<String> FIELDS = Set.of("text", "image_url");
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).build();
    private final ServerOptions options;
    private final ImageFetcher images;
    private final Supplier<Engine> engine;

    DetectionsHandler(ServerOptions options, ImageFetcher images, Supplier<Engine> engine, ServerMetrics metrics) {
        super("POST", "/v1/detections", metrics);
        this.options = options;
        this.images = images;
        this.engine = engine;
    }

    @Override
    void serve(Request request, Response response, Callback callback) {
        Engine e = engine.get();
        JsonNode root;
        try {
            root = JSON.readTree(readBody(request, options.maxBodyBytes()));
        } catch (JsonProcessingException ex) {
            throw ApiException.invalid(null, "the body is not valid JSON: " + ex.getOriginalMessage());
        } catch (IOException ex) {
            callback.failed(ex); // the client stopped sending or left
            return;
        }
        if (root == null || !root.isObject() || !root.path("text").isTextual()
                || !root.path("image_url").path("url").isTextual()) {
            throw ApiException.invalid(null, "the body must be {\"text\": \"the model's answer\", \"image_url\":"
                    + " {\"url\": \"data:image/...;base64,...\"}}");
        }
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!FIELDS.contains(name)) {
                throw ApiException.unsupported(name, "unknown field " + name + "; send text and image_url");
            }
        }
        byte[] file = images.fetch(root.get("image_url").get("url").asText(), "image_url.url");
        ImageGeometry geometry;
        try {
            Image image = ImageDecoder.defaults().withMaxPixels(Completion.MAX_IMAGE_PIXELS)
                    .withMaxBytes(options.maxImageBytes()).decode(file);
            geometry = e.model().imageGeometry(image); // the frame the question's image was encoded in
        } catch (ImageException ex) {
            throw new ApiException(400, "invalid_request_error", "invalid_image", "image_url.url", ex.getMessage());
        }
        Responses.json(response, callback, 200, answer(geometry, Grounding.parse(root.get("text").asText(), geometry,
                0)));
    }

    private static ObjectNode answer(ImageGeometry g, java.util.List<Detection> found) {
        ObjectNode root = Responses.JSON.createObjectNode().put("object", "detections");
        ObjectNode image = root.putObject("image");
        image.putArray("original").add(g.originalWidth()).add(g.originalHeight());
        image.putArray("frame").add(g.frameWidth()).add(g.frameHeight());
        image.putArray("content").add(g.contentX()).add(g.contentY()).add(g.contentWidth()).add(g.contentHeight());
        ArrayNode list = root.putArray("detections");
        for (Detection d : found) {
            ObjectNode o = list.addObject().put("label", d.label());
            switch (d.shape()) {
                case Shape.Box b -> o.putArray("bbox_2d").add(b.x1()).add(b.y1()).add(b.x2()).add(b.y2());
                case Shape.Point p -> o.putArray("point_2d").add(p.x()).add(p.y());
                case null -> o.put("problem", d.problem());
            }
            ArrayNode flags = o.putArray("flags");
            d.flags().forEach(f -> flags.add(f.name().toLowerCase(Locale.ROOT)));
        }
        return root;
    }
}
