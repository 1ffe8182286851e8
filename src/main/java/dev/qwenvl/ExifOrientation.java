package dev.qwenvl;

import java.lang.System.Logger.Level;

/**
 * Reads the EXIF orientation tag (0x0112) of a JPEG and turns interleaved RGB pixels upright.
 *
 * <p>The reader is bounded and defensive: it only looks at APP segments before the first scan, every offset is checked
 * against the segment (at most 64 KiB, by the JPEG format), and it allocates nothing. A malformed EXIF block is ignored
 * with a logged warning: the image is then used as stored.
 */
final class ExifOrientation {
    /** The orientation of an image stored upright, and of every image without a usable tag. */
    static final int NORMAL = 1;

    private static final System.Logger LOG = System.getLogger(ExifOrientation.class.getName());
    private static final int TAG_ORIENTATION = 0x0112;
    private static final int TYPE_SHORT = 3;
    private static final int IFD_ENTRY_SIZE = 12;

    private ExifOrientation() {
    }

    /**
     * Returns the orientation (1 to 8) in the first EXIF APP1 segment of a JPEG, or {@link #NORMAL} when there is none
     * or it is malformed (logged at WARNING with {@code source}).
     */
    static int read(byte[] jpeg, String source) {
        int pos = 2; // after SOI
        while (pos + 4 <= jpeg.length) {
            if ((jpeg[pos] & 0xFF) != 0xFF) {
                return ignore(source, "no JPEG marker at offset " + pos);
            }
            int marker = jpeg[pos + 1] & 0xFF;
            if (marker == 0xFF) { // fill byte before a marker
                pos++;
                continue;
            }
            if (marker == 0xDA || marker == 0xD9) { // start of scan or end of image: no metadata follows
                return NORMAL;
            }
            if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { // standalone markers carry no length
                pos += 2;
                continue;
            }
            int length = u16(jpeg, pos + 2, true);
            int body = pos + 4;
            int end = pos + 2 + length;
            if (length < 2 || end > jpeg.length) {
                return ignore(source, "segment 0x" + Integer.toHexString(marker) + " at offset " + pos
                        + " has length " + length + " past the end of the file");
            }
            if (marker == 0xE1 && isExifHeader(jpeg, body, end)) {
                return readTiff(jpeg, body + 6, end, source);
            }
            pos = end;
        }
        return NORMAL;
    }

    /** Returns the pixels of a {@code width}x{@code height} RGB image turned upright for {@code orientation}. */
    static byte[] apply(int orientation, int width, int height, byte[] rgb) {
        if (orientation == NORMAL) {
            return rgb;
        }
        boolean swap = swapsDimensions(orientation);
        int outWidth = swap ? height : width;
        int outHeight = swap ? width : height;
        byte[] out = new byte[rgb.length];
        int o = 0;
        for (int y = 0; y < outHeight; y++) {
            for (int x = 0; x < outWidth; x++) {
                // (sx, sy): the stored pixel that shows at (x, y) once the image is upright
                int sx;
                int sy;
                switch (orientation) {
                    case 2 -> { sx = width - 1 - x; sy = y; }              // mirrored horizontally
                    case 3 -> { sx = width - 1 - x; sy = height - 1 - y; } // rotated 180
                    case 4 -> { sx = x; sy = height - 1 - y; }             // mirrored vertically
                    case 5 -> { sx = y; sy = x; }                          // transposed
                    case 6 -> { sx = y; sy = height - 1 - x; }             // needs 90 clockwise
                    case 7 -> { sx = width - 1 - y; sy = height - 1 - x; } // transversed
                    case 8 -> { sx = width - 1 - y; sy = x; }              // needs 90 counter-clockwise
                    default -> throw new IllegalArgumentException("EXIF orientation " + orientation);
                }
                int s = (sy * width + sx) * 3;
                out[o++] = rgb[s];
                out[o++] = rgb[s + 1];
                out[o++] = rgb[s + 2];
            }
        }
        return out;
    }

    /** Whether the upright image has width and height exchanged (orientations 5 to 8). */
    static boolean swapsDimensions(int orientation) {
        return orientation >= 5;
    }

    private static boolean isExifHeader(byte[] b, int body, int end) {
        return end - body >= 6 && b[body] == 'E' && b[body + 1] == 'x' && b[body + 2] == 'i' && b[body + 3] == 'f'
                && b[body + 4] == 0 && b[body + 5] == 0;
    }

    /** Reads the orientation from IFD0 of the TIFF structure in {@code b[start, end)}. */
    private static int readTiff(byte[] b, int start, int end, String source) {
        int size = end - start;
        if (size < 8) {
            return ignore(source, "EXIF block of " + size + " bytes is too short for a TIFF header");
        }
        boolean bigEndian;
        if (b[start] == 'M' && b[start + 1] == 'M') {
            bigEndian = true;
        } else if (b[start] == 'I' && b[start + 1] == 'I') {
            bigEndian = false;
        } else {
            return ignore(source, "EXIF block has no TIFF byte order mark");
        }
        if (u16(b, start + 2, bigEndian) != 42) {
            return ignore(source, "EXIF block has no TIFF magic number");
        }
        long ifd = u32(b, start + 4, bigEndian);
        if (ifd < 8 || ifd + 2 > size) {
            return ignore(source, "EXIF IFD0 offset " + ifd + " is outside the " + size + "-byte block");
        }
        int entries = u16(b, start + (int) ifd, bigEndian);
        int first = start + (int) ifd + 2;
        if ((long) entries * IFD_ENTRY_SIZE > end - first) {
            return ignore(source, "EXIF IFD0 declares " + entries + " entries, more than its block holds");
        }
        for (int i = 0; i < entries; i++) {
            int entry = first + i * IFD_ENTRY_SIZE;
            if (u16(b, entry, bigEndian) != TAG_ORIENTATION) {
                continue;
            }
            int type = u16(b, entry + 2, bigEndian);
            long count = u32(b, entry + 4, bigEndian);
            int value = u16(b, entry + 8, bigEndian);
            if (type != TYPE_SHORT || count != 1 || value < 1 || value > 8) {
                return ignore(source, "EXIF orientation tag has type " + type + ", count " + count
                        + " and value " + value + " (expected one SHORT from 1 to 8)");
            }
            return value;
        }
        return NORMAL;
    }

    private static int ignore(String source, String problem) {
        LOG.log(Level.WARNING, "{0}: ignoring malformed EXIF metadata, the image is used as stored: {1}",
                source, problem);
        return NORMAL;
    }

    private static int u16(byte[] b, int at, boolean bigEndian) {
        int b0 = b[at] & 0xFF;
        int b1 = b[at + 1] & 0xFF;
        return bigEndian ? (b0 << 8) | b1 : (b1 << 8) | b0;
    }

    private static long u32(byte[] b, int at, boolean bigEndian) {
        long hi = u16(b, at, bigEndian);
        long lo = u16(b, at + 2, bigEndian);
        return bigEndian ? (hi << 16) | lo : (lo << 16) | hi;
    }
}
