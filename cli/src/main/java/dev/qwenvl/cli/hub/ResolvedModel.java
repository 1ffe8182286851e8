package dev.qwenvl.cli.hub;

import java.nio.file.Path;

/**
 * A text model and its multimodal projector, both local files in the Hugging Face cache ready to load.
 *
 * @param model  the text-model GGUF (the first part when the model is split)
 * @param mmproj the matching {@code mmproj} GGUF
 */
public record ResolvedModel(Path model, Path mmproj) {
}
