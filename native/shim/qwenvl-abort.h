// qwenvl-abort: a ggml abort callback that reads a flag in memory, so llama.cpp can poll for cancellation at every
// graph node without calling back into the JVM (a Java upcall per node slowed every decode).
#pragma once

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#    ifdef QWENVL_SHIM_BUILD
#        define QWENVL_ABORT_API __declspec(dllexport)
#    else
#        define QWENVL_ABORT_API __declspec(dllimport)
#    endif
#else
#    define QWENVL_ABORT_API __attribute__((visibility("default")))
#endif

// A ggml_abort_callback: returns true (abort) once the byte at flag is non-zero. Pass its address as the callback
// and a byte the caller owns as the user data.
QWENVL_ABORT_API bool qwenvl_abort_when_flagged(void * flag);

#ifdef __cplusplus
}
#endif
