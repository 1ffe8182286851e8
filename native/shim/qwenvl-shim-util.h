// Helpers shared by the shim's C++ files (not part of its C API).
#pragma once

#include "qwenvl-fit.h"

#include <cstring>
#include <vector>

static inline void write_error(char * err, size_t err_len, const char * what) {
    if (err == nullptr || err_len == 0) {
        return;
    }
    std::strncpy(err, what, err_len - 1);
    err[err_len - 1] = '\0';
}

static inline int32_t write_rows(const std::vector<qwenvl_memory_row> & all, qwenvl_memory_row * rows, int32_t max_rows) {
    for (size_t i = 0; i < all.size() && i < (size_t) max_rows; i++) {
        rows[i] = all[i];
    }
    return (int32_t) all.size();
}
