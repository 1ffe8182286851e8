#include "qwenvl-fit.h"
#include "qwenvl-shim-util.h"

#include "fit.h"
#include "../src/llama-ext.h" // llama.cpp's staging API, found as common/fit.cpp finds it
#include "log.h"

#include <cstring>
#include <exception>
#include <map>
#include <vector>

int32_t qwenvl_fit_text(const char * path_model, const llama_model_params * mparams,
                        const llama_context_params * cparams, qwenvl_memory_row * rows, int32_t max_rows,
                        char * err, size_t err_len) {
    try {
        std::vector<ggml_backend_dev_t> devs;
        uint32_t n_layer = 0;
        uint32_t n_ctx_train = 0;
        uint32_t n_expert = 0;
        common_log_pause(common_log_main()); // its memory breakdown goes to stdout; ours is the caller's to print
        common_device_memory_data_vec data;
        try {
            data = common_get_device_memory_data(path_model, mparams, cparams, devs, n_layer, n_ctx_train, n_expert,
                                                 GGML_LOG_LEVEL_ERROR);
        } catch (...) {
            common_log_resume(common_log_main());
            throw;
        }
        common_log_resume(common_log_main());
        std::vector<qwenvl_memory_row> all;
        for (size_t i = 0; i < data.size(); i++) {
            const auto & d = data[i];
            all.push_back({ i < devs.size() ? devs[i] : nullptr, d.free, d.total, d.model, d.context, d.compute });
        }
        return write_rows(all, rows, max_rows);
    } catch (const std::exception & e) {
        write_error(err, err_len, e.what());
    } catch (...) {
        write_error(err, err_len, "unknown error while measuring the text model");
    }
    return -1;
}

int32_t qwenvl_context_memory(const llama_context * ctx, qwenvl_memory_row * rows, int32_t max_rows) {
    const llama_model * model = llama_get_model(ctx);
    const int32_t nd = llama_model_n_devices(model);
    std::vector<qwenvl_memory_row> all(nd + 1);
    for (int32_t i = 0; i < nd; i++) {
        all[i].device = llama_model_get_device(model, i);
    }
    for (const auto & [buft, mb] : llama_get_memory_breakdown(ctx)) {
        qwenvl_memory_row * row = &all[nd];
        if (!ggml_backend_buft_is_host(buft)) {
            ggml_backend_dev_t dev = ggml_backend_buft_get_device(buft);
            for (int32_t i = 0; i < nd; i++) {
                if (all[i].device == dev) {
                    row = &all[i];
                }
            }
        }
        row->model   += mb.model;
        row->context += mb.context;
        row->compute += mb.compute;
    }
    return write_rows(all, rows, max_rows);
}
