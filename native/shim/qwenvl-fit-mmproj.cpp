// The mmproj half of qwenvl-fit: its own file because clip's log macros clash with llama-common's.
#include "qwenvl-fit.h"
#include "qwenvl-shim-util.h"

#include "clip-model.h"
#include "clip.h"

#include <cstring>
#include <exception>
#include <map>
#include <vector>

// Host memory is one row, whatever the host buffer type, as common_get_device_memory_data counts it.
static ggml_backend_dev_t row_device(ggml_backend_dev_t dev) {
    return dev != nullptr && ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_CPU ? nullptr : dev;
}


int32_t qwenvl_fit_mmproj(const char * path_mmproj, const mtmd_context_params * params, qwenvl_memory_row * rows,
                          int32_t max_rows, int32_t * warmup_tokens, int32_t * min_tokens, int32_t * max_tokens,
                          char * err, size_t err_len) {
    try {
        // weights and the image geometry: clip without its warmup reserves no compute buffer
        clip_context_params cp {};
        cp.use_gpu          = params->use_gpu;
        cp.device           = params->device;
        cp.flash_attn_type  = CLIP_FLASH_ATTN_TYPE_AUTO;
        cp.image_min_tokens = params->image_min_tokens;
        cp.image_max_tokens = params->image_max_tokens;
        cp.warmup           = false;
        cp.no_alloc         = true;
        clip_init_result clip = clip_init(path_mmproj, cp);
        if (clip.ctx_v == nullptr) {
            if (clip.ctx_a) { clip_free(clip.ctx_a); }
            if (clip.ctx_gen_a) { clip_free(clip.ctx_gen_a); }
            write_error(err, err_len, "libmtmd found no vision encoder in the mmproj (its log says why)");
            return -1;
        }
        std::map<ggml_backend_dev_t, size_t> weights = clip_get_mem_usage(clip.ctx_v);
        const clip_hparams & hp = *clip_get_hparams(clip.ctx_v);
        const int side = hp.patch_size * hp.n_merge;
        *warmup_tokens = side > 0 ? (hp.warmup_image_size / side) * (hp.warmup_image_size / side) : 0;
        *min_tokens    = side > 0 ? hp.image_min_pixels / (side * side) : 0;
        *max_tokens    = side > 0 ? hp.image_max_pixels / (side * side) : 0;
        for (clip_ctx * c : { clip.ctx_v, clip.ctx_a, clip.ctx_gen_a }) {
            if (c) { clip_free(c); }
        }

        mtmd_context_params with_warmup = *params;
        with_warmup.warmup = true;
        std::map<ggml_backend_dev_t, size_t> total = mtmd_get_memory_usage(path_mmproj, with_warmup);
        if (total.empty()) {
            write_error(err, err_len, "mtmd_get_memory_usage could not measure the mmproj (its log says why)");
            return -1;
        }
        std::map<ggml_backend_dev_t, qwenvl_memory_row> by_dev;
        for (const auto & [dev, bytes] : total) {
            auto & row = by_dev[row_device(dev)];
            row.device = row_device(dev);
            size_t w = weights.count(dev) ? weights[dev] : 0;
            row.model   += w;
            row.compute += bytes > w ? bytes - w : 0;
        }
        std::vector<qwenvl_memory_row> all;
        for (auto & [dev, row] : by_dev) {
            if (dev != nullptr) {
                size_t free = 0, tot = 0;
                ggml_backend_dev_memory(dev, &free, &tot);
                row.free = (int64_t) free;
                row.total = (int64_t) tot;
                all.push_back(row);
            }
        }
        if (by_dev.count(nullptr)) {
            all.push_back(by_dev[nullptr]); // host last, as qwenvl_fit_text
        }
        return write_rows(all, rows, max_rows);
    } catch (const std::exception & e) {
        write_error(err, err_len, e.what());
    } catch (...) {
        write_error(err, err_len, "unknown error while measuring the mmproj");
    }
    return -1;
}

