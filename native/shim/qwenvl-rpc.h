// qwenvl-rpc: llama.cpp's RPC backend (rpc-server endpoints as devices) behind a flat C API, as common/arg.cpp's
// --rpc reaches it, but without registering the servers for every later load in the process.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ggml-backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#    ifdef QWENVL_SHIM_BUILD
#        define QWENVL_RPC_API __declspec(dllexport)
#    else
#        define QWENVL_RPC_API __declspec(dllimport)
#    endif
#else
#    define QWENVL_RPC_API __attribute__((visibility("default")))
#endif

// The RPC protocol version this build's client speaks (ggml-rpc.h): major << 16 | minor << 8 | patch.
QWENVL_RPC_API int32_t qwenvl_rpc_protocol_version(void);

// Connects to the rpc-server at endpoint ("host:port") and writes its devices (at most max_devices). Returns the
// device count, or -1 with the reason in err (no RPC backend in this build, or a server with no device). ggml
// aborts the process when the endpoint does not answer or speaks another protocol version: check it first.
QWENVL_RPC_API int32_t qwenvl_rpc_devices(const char * endpoint, ggml_backend_dev_t * devices, int32_t max_devices,
                                          char * err, size_t err_len);

// 1 if the connection to the rpc-server at endpoint was lost while a model used it (ggml's client then fails every
// later compute, and the replies a decode already waited for never came), 0 if not, -1 if this build's RPC backend
// cannot tell (it lacks native/patches/ggml-rpc-connection-lost.patch).
QWENVL_RPC_API int32_t qwenvl_rpc_connection_lost(const char * endpoint);

// Bounds each wait for a reply from the rpc-server at endpoint to timeout_ms (0: wait forever, ggml's default), on
// its open connection and on those opened later; a server that does not reply within it loses its connection as
// above. Returns 0, or -1 if this build's RPC backend cannot (it lacks native/patches/ggml-rpc-connection-lost.patch).
QWENVL_RPC_API int32_t qwenvl_rpc_set_reply_timeout(const char * endpoint, int32_t timeout_ms);

// The local devices llama.cpp gives a model when llama_model_params.devices is NULL (GPUs, or integrated GPUs when
// there is no GPU; RPC servers left out), so a load that names its RPC devices keeps them. Returns the count.
QWENVL_RPC_API int32_t qwenvl_local_model_devices(ggml_backend_dev_t * devices, int32_t max_devices);

#ifdef __cplusplus
}
#endif
