#include "qwenvl-fit.h"
#include "qwenvl-shim-util.h"

#include "../src/llama-ext.h" // llama.cpp's staging API, found as common/fit.cpp finds it

#include <cstring>
#include <exception>
#include <map>
#include <vector>

// Every buffer of a context and its model, per device of the model; the host row (last) takes the host buffer
// types and also the CPU's extra ones (REPACK, AMX): they are not host buffers, and their device, the CPU, is not one
// of the model's devices, so common_get_device_memory_data drops them although they hold most repacked weights.
static std::vector<qwenvl_memory_row> context_rows(const llama_context * ctx) {
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
    return all;
}

// llama.cpp's logger, with everything below ERROR demoted to DEBUG while the no-alloc load runs (as common/fit.cpp).
struct quiet_log {
    ggml_log_callback callback = nullptr;
    void * user_data = nullptr;

    quiet_log() {
        llama_log_get(&callback, &user_data);
        llama_log_set([](ggml_log_level level, const char * text, void * ud) {
            const quiet_log * q = (const quiet_log *) ud;
            if (q->callback != nullptr) {
                q->callback(level >= GGML_LOG_LEVEL_ERROR ? level : GGML_LOG_LEVEL_DEBUG, text, q->user_data);
            }
        }, this);
    }

    ~quiet_log() { llama_log_set(callback, user_data); }
};

// common_get_device_memory_data's no-alloc load of the model and a context, with context_rows' attribution.
int32_t qwenvl_fit_text(const char * path_model, const llama_model_params * mparams,
                        const llama_context_params * cparams, qwenvl_memory_row * rows, int32_t max_rows,
                        char * err, size_t err_len) {
    try {
        quiet_log quiet;
        llama_model_params mp = *mparams;
        mp.no_alloc  = true;
        mp.load_mode = LLAMA_LOAD_MODE_NONE;
        llama_model * model = llama_model_load_from_file(path_model, mp);
        if (model == nullptr) {
            write_error(err, err_len, "llama.cpp could not load the model without allocating (its log says why)");
            return -1;
        }
        llama_context * ctx = llama_init_from_model(model, *cparams);
        if (ctx == nullptr) {
            llama_model_free(model);
            write_error(err, err_len, "llama.cpp could not create the context without allocating (its log says why)");
            return -1;
        }
        std::vector<qwenvl_memory_row> all = context_rows(ctx);
        llama_free(ctx);
        llama_model_free(model);
        size_t free = 0;
        size_t total = 0;
        ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
        if (cpu == nullptr) {
            write_error(err, err_len, "no CPU backend is loaded");
            return -1;
        }
        ggml_backend_dev_memory(cpu, &free, &total);
        all.back().free  = (int64_t) free;
        all.back().total = (int64_t) total;
        for (size_t i = 0; i + 1 < all.size(); i++) {
            ggml_backend_dev_memory(all[i].device, &free, &total);
            enum ggml_backend_dev_type type = ggml_backend_dev_type(all[i].device);
            bool gpu = type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU;
            if (free == 0 && total == 0 && !gpu) { // BLAS-like backends report nothing and use host memory
                free  = (size_t) all.back().free;
                total = (size_t) all.back().total;
            }
            all[i].free  = (int64_t) free;
            all[i].total = (int64_t) total;
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
    return write_rows(context_rows(ctx), rows, max_rows);
}
