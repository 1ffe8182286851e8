package dev.qwenvl.testing;

import java.nio.file.Path;

/**
 * A generated text model and its multimodal projector, ready for {@code llama_model_load_from_file} and
 * {@code mtmd_init_from_file}.
 *
 * @param text   the {@code qwen2vl} text GGUF
 * @param mmproj the {@code clip} mmproj GGUF
 */
public record ModelPair(Path text, Path mmproj) {
}
