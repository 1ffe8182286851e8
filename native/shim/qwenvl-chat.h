// qwenvl-chat: llama.cpp's own chat-template engine (llama-common, Jinja included) behind a flat C API,
// so the Java facade formats prompts exactly as llama-mtmd-cli does.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llama.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#    ifdef QWENVL_CHAT_BUILD
#        define QWENVL_CHAT_API __declspec(dllexport)
#    else
#        define QWENVL_CHAT_API __declspec(dllimport)
#    endif
#else
#    define QWENVL_CHAT_API __attribute__((visibility("default")))
#endif

typedef struct qwenvl_chat_templates qwenvl_chat_templates;

// Parses the model's chat template, or template_override when it is not NULL (as --chat-template does).
// Returns NULL on failure and writes a NUL-terminated reason into err (at most err_len bytes).
QWENVL_CHAT_API qwenvl_chat_templates * qwenvl_chat_templates_init(const struct llama_model * model,
                                                                   const char * template_override,
                                                                   char * err, size_t err_len);

QWENVL_CHAT_API void qwenvl_chat_templates_free(qwenvl_chat_templates * tmpls);

// The template source in use (NUL-terminated, owned by tmpls).
QWENVL_CHAT_API const char * qwenvl_chat_templates_source(const qwenvl_chat_templates * tmpls);

// Formats new_msg after the past messages as common_chat_format_single does, returning only the new text.
// Writes at most len bytes into buf (not NUL-terminated) and returns the full length, so a caller whose
// buffer was too small calls again. Returns -1 on a template error, with the reason in err.
QWENVL_CHAT_API int32_t qwenvl_chat_format_single(const qwenvl_chat_templates * tmpls,
                                                  const struct llama_chat_message * past, size_t n_past,
                                                  const struct llama_chat_message * new_msg,
                                                  bool add_assistant, bool use_jinja,
                                                  char * buf, int32_t len,
                                                  char * err, size_t err_len);

#ifdef __cplusplus
}
#endif
