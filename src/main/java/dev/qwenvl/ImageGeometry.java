package dev.qwenvl;

/**
 * How libmtmd preprocessed one image for the model: the original picture was resized, keeping its aspect ratio, into
 * a content rectangle inside a frame of whole 28-pixel cells (two by two patches each), and the rest of the frame was
 * padded black. The model sees the frame; the coordinates Qwen2.5-VL writes are pixels of that frame.
 *
 * <p>The frame comes from libmtmd itself (the image chunk's merged token grid times the patch size times the merge
 * size of 2); the content rectangle follows llama.cpp's {@code PAD_CEIL} rule in {@code img_tool::resize}: scale by
 * the smaller of the two frame-to-original ratios, round each side up (at most the frame), centre by integer
 * division.
 *
 * <pre>{@code
 * ImageGeometry g = model.imageGeometry(Image.read(photo));
 * ImageGeometry.Mapped corner = g.frameToOriginal(412, 96); // a model coordinate, in photo pixels
 * }</pre>
 *
 * @param originalWidth  width of the image as given to libmtmd (after EXIF orientation), in pixels
 * @param originalHeight height of the image as given to libmtmd, in pixels
 * @param frameWidth     width of the frame the vision encoder saw, in pixels
 * @param frameHeight    height of the frame the vision encoder saw, in pixels
 * @param contentX       left edge of the resized picture inside the frame
 * @param contentY       top edge of the resized picture inside the frame
 * @param contentWidth   width of the resized picture inside the frame
 * @param contentHeight  height of the resized picture inside the frame
 * @param tokensX        image tokens per row (merged 2x2 patches)
 * @param tokensY        rows of image tokens
 */
public record ImageGeometry(int originalWidth, int originalHeight, int frameWidth, int frameHeight, int contentX,
                            int contentY, int contentWidth, int contentHeight, int tokensX, int tokensY) {

    /** Patches per merged token along each side, for Qwen2-VL and Qwen2.5-VL (llama.cpp's clip_n_output_tokens_x). */
    static final int MERGE = 2;

    /**
     * A point after mapping between the frame and the original image.
     *
     * @param x       horizontal coordinate, in pixels of the target space
     * @param y       vertical coordinate, in pixels of the target space
     * @param clamped whether the point fell outside the target image (or frame) and was moved onto its border
     */
    public record Mapped(double x, double y, boolean clamped) {
    }

    public ImageGeometry {
        requirePositive("originalWidth", originalWidth);
        requirePositive("originalHeight", originalHeight);
        requirePositive("tokensX", tokensX);
        requirePositive("tokensY", tokensY);
        requirePositive("contentWidth", contentWidth);
        requirePositive("contentHeight", contentHeight);
        if (contentX < 0 || contentY < 0 || contentX + contentWidth > frameWidth
                || contentY + contentHeight > frameHeight) {
            throw new IllegalArgumentException("content rectangle " + contentWidth + "x" + contentHeight + " at ("
                    + contentX + "," + contentY + ") does not fit the frame " + frameWidth + "x" + frameHeight);
        }
    }

    /**
     * The geometry of an image of {@code originalWidth} x {@code originalHeight} pixels that libmtmd turned into a
     * grid of {@code tokensX} x {@code tokensY} merged tokens of {@code patchSize}-pixel patches, with the content
     * rectangle of llama.cpp's {@code PAD_CEIL} resize.
     */
    static ImageGeometry padCeil(int originalWidth, int originalHeight, int tokensX, int tokensY, int patchSize) {
        int frameWidth = Math.multiplyExact(Math.multiplyExact(tokensX, patchSize), MERGE);
        int frameHeight = Math.multiplyExact(Math.multiplyExact(tokensY, patchSize), MERGE);
        // float arithmetic, exactly as img_tool::resize computes it
        float scale = Math.min((float) frameWidth / originalWidth, (float) frameHeight / originalHeight);
        int width = Math.min((int) Math.ceil(originalWidth * scale), frameWidth);
        int height = Math.min((int) Math.ceil(originalHeight * scale), frameHeight);
        return new ImageGeometry(originalWidth, originalHeight, frameWidth, frameHeight, (frameWidth - width) / 2,
                (frameHeight - height) / 2, width, height, tokensX, tokensY);
    }

    /** Image tokens the picture costs: {@code tokensX * tokensY}. */
    public int tokens() {
        return tokensX * tokensY;
    }

    /** Frame pixels per original pixel, horizontally ({@code contentWidth / originalWidth}). */
    public double scaleX() {
        return (double) contentWidth / originalWidth;
    }

    /** Frame pixels per original pixel, vertically ({@code contentHeight / originalHeight}). */
    public double scaleY() {
        return (double) contentHeight / originalHeight;
    }

    /**
     * Maps a point in frame pixels (as Qwen2.5-VL writes its coordinates) onto the original image; a point in the
     * padding or outside the frame is clamped onto the original's border and flagged.
     *
     * @throws IllegalArgumentException if a coordinate is NaN or infinite
     */
    public Mapped frameToOriginal(double x, double y) {
        requireFinite(x, y);
        // multiply before dividing: whole-pixel edges then map exactly
        return clampTo((x - contentX) * originalWidth / contentWidth, (y - contentY) * originalHeight / contentHeight,
                originalWidth, originalHeight);
    }

    /**
     * Maps a point in original pixels into the frame; a point outside the original is clamped onto its border first
     * and flagged.
     *
     * @throws IllegalArgumentException if a coordinate is NaN or infinite
     */
    public Mapped originalToFrame(double x, double y) {
        requireFinite(x, y);
        Mapped inside = clampTo(x, y, originalWidth, originalHeight);
        return new Mapped(contentX + inside.x() * contentWidth / originalWidth,
                contentY + inside.y() * contentHeight / originalHeight, inside.clamped());
    }

    /**
     * Maps a point on Qwen2-VL's 0..1000 grid (over the whole frame) onto the original image, clamped and flagged as
     * {@link #frameToOriginal} does.
     *
     * @throws IllegalArgumentException if a coordinate is NaN or infinite
     */
    public Mapped gridToOriginal(double x, double y) {
        requireFinite(x, y);
        return frameToOriginal(x * frameWidth / 1000.0, y * frameHeight / 1000.0);
    }

    private static Mapped clampTo(double x, double y, int width, int height) {
        double cx = Math.clamp(x, 0, width);
        double cy = Math.clamp(y, 0, height);
        return new Mapped(cx, cy, cx != x || cy != y);
    }

    private static void requireFinite(double x, double y) {
        if (!Double.isFinite(x) || !Double.isFinite(y)) {
            throw new IllegalArgumentException("coordinates must be finite, got (" + x + ", " + y + ")");
        }
    }

    private static void requirePositive(String name, int value) {
        if (value < 1) {
            throw new IllegalArgumentException(name + " must be at least 1, got " + value);
        }
    }
}
