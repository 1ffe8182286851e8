#include "qwenvl-rpc.h"
#include "qwenvl-shim-util.h"

#include "ggml-rpc.h"

#include <cstring>
#include <string>
#include <vector>

int32_t qwenvl_rpc_protocol_version(void) {
    return RPC_PROTO_MAJOR_VERSION << 16 | RPC_PROTO_MINOR_VERSION << 8 | RPC_PROTO_PATCH_VERSION;
}

int32_t qwenvl_rpc_devices(const char * endpoint, ggml_backend_dev_t * devices, int32_t max_devices, char * err,
                           size_t err_len) {
    ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
    if (rpc == nullptr) {
        write_error(err, err_len, "this llama.cpp build has no RPC backend (build it with GGML_RPC=ON)");
        return -1;
    }
    typedef ggml_backend_reg_t (*add_server_t)(const char * endpoint);
    auto add_server = (add_server_t) ggml_backend_reg_get_proc_address(rpc, "ggml_backend_rpc_add_server");
    if (add_server == nullptr) {
        write_error(err, err_len, "the RPC backend has no ggml_backend_rpc_add_server");
        return -1;
    }
    ggml_backend_reg_t server = add_server(endpoint);
    const int32_t n = server == nullptr ? 0 : (int32_t) ggml_backend_reg_dev_count(server);
    if (n == 0) {
        write_error(err, err_len, (std::string("the rpc-server at ") + endpoint + " has no device").c_str());
        return -1;
    }
    for (int32_t i = 0; i < n && i < max_devices; i++) {
        devices[i] = ggml_backend_reg_dev_get(server, i);
    }
    return n;
}

int32_t qwenvl_rpc_connection_lost(const char * endpoint) {
    typedef bool (*connection_lost_t)(const char * endpoint);
    static const connection_lost_t connection_lost = [] {
        ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
        return rpc == nullptr ? nullptr
                              : (connection_lost_t) ggml_backend_reg_get_proc_address(rpc, "ggml_backend_rpc_connection_lost");
    }();
    return connection_lost == nullptr ? -1 : connection_lost(endpoint) ? 1 : 0;
}

int32_t qwenvl_rpc_set_reply_timeout(const char * endpoint, int32_t timeout_ms) {
    typedef void (*set_reply_timeout_t)(const char * endpoint, int timeout_ms);
    static const set_reply_timeout_t set_reply_timeout = [] {
        ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
        return rpc == nullptr ? nullptr
                              : (set_reply_timeout_t) ggml_backend_reg_get_proc_address(rpc, "ggml_backend_rpc_set_reply_timeout");
    }();
    if (set_reply_timeout == nullptr) {
        return -1;
    }
    set_reply_timeout(endpoint, timeout_ms);
    return 0;
}

// The default selection of llama_prepare_model_devices (src/llama.cpp), RPC servers left out.
int32_t qwenvl_local_model_devices(ggml_backend_dev_t * devices, int32_t max_devices) {
    std::vector<ggml_backend_dev_t> gpus;
    std::vector<ggml_backend_dev_t> igpus;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        const enum ggml_backend_dev_type type = ggml_backend_dev_type(dev);
        if (type == GGML_BACKEND_DEVICE_TYPE_GPU
                && std::strcmp(ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev)), "RPC") != 0) {
            ggml_backend_dev_props props;
            ggml_backend_dev_get_props(dev, &props);
            bool seen = false; // one GPU seen by two backends is used once
            for (ggml_backend_dev_t g : gpus) {
                ggml_backend_dev_props p;
                ggml_backend_dev_get_props(g, &p);
                seen |= props.device_id && p.device_id && std::strcmp(props.device_id, p.device_id) == 0;
            }
            if (!seen) {
                gpus.push_back(dev);
            }
        } else if (type == GGML_BACKEND_DEVICE_TYPE_IGPU
                && (igpus.empty() || ggml_backend_dev_backend_reg(dev) == ggml_backend_dev_backend_reg(igpus.back()))) {
            igpus.push_back(dev);
        }
    }
    const std::vector<ggml_backend_dev_t> & local = gpus.empty() ? igpus : gpus;
    for (size_t i = 0; i < local.size() && i < (size_t) max_devices; i++) {
        devices[i] = local[i];
    }
    return (int32_t) local.size();
}
