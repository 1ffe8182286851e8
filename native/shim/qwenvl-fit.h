// qwenvl-fit: what a load will need, measured by llama.cpp itself before anything is allocated (common/fit.h's
// no-alloc load of the text model and a context, libmtmd's mtmd_get_memory_usage for the mmproj), and what a live
// context really holds, behind a flat C API.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ggml-backend.h"
#include "llama.h"
#include "mtmd.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#    ifdef QWENVL_SHIM_BUILD
#        define QWENVL_FIT_API __declspec(dllexport)
#    else
#        define QWENVL_FIT_API __declspec(dllimport)
#    endif
#else
#    define QWENVL_FIT_API __attribute__((visibility("default")))
#endif

// Bytes on one device (device NULL: host memory, i.e. every host buffer type).
typedef struct qwenvl_memory_row {
    ggml_backend_dev_t device;
    int64_t  free;    // what the device reports free (host: ggml's CPU device, which reports its total)
    int64_t  total;
    uint64_t model;   // weights
    uint64_t context; // KV cache
    uint64_t compute; // compute buffers
} qwenvl_memory_row;

// Loads the text model and a context without allocating (as common_get_device_memory_data does, but counting the
// CPU's extra buffer types, REPACK and AMX, in host memory, where that function drops them) and writes one row per
// device of the model, then one for host memory. Returns the number of rows (more than max_rows: call again with
// more), or -1 with the reason in err. Changes the llama.cpp logger while it runs: not thread-safe.
QWENVL_FIT_API int32_t qwenvl_fit_text(const char * path_model, const struct llama_model_params * mparams,
                                       const struct llama_context_params * cparams,
                                       qwenvl_memory_row * rows, int32_t max_rows, char * err, size_t err_len);

// The mmproj's vision encoder as libmtmd would load it with params: per device, its weights (model) and its compute
// buffers (compute) at libmtmd's warmup image, measured by mtmd_get_memory_usage without allocating. Also writes the
// warmup image's token count and the image token bounds in force. Returns the number of rows, or -1 (reason in err).
QWENVL_FIT_API int32_t qwenvl_fit_mmproj(const char * path_mmproj, const struct mtmd_context_params * params,
                                         qwenvl_memory_row * rows, int32_t max_rows,
                                         int32_t * warmup_tokens, int32_t * min_tokens, int32_t * max_tokens,
                                         char * err, size_t err_len);

// What a live context and its model hold now (llama_get_memory_breakdown), rows as qwenvl_fit_text writes them
// (free and total left 0). Returns the number of rows.
QWENVL_FIT_API int32_t qwenvl_context_memory(const struct llama_context * ctx, qwenvl_memory_row * rows,
                                             int32_t max_rows);

#ifdef __cplusplus
}
#endif
