#include "qwenvl-chat.h"

#include "chat.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

struct qwenvl_chat_templates {
    common_chat_templates_ptr ptr;
    std::string               source;
};

static void write_error(char * err, size_t err_len, const char * what) {
    if (err == nullptr || err_len == 0) {
        return;
    }
    std::strncpy(err, what, err_len - 1);
    err[err_len - 1] = '\0';
}

static common_chat_msg to_msg(const llama_chat_message & m) {
    common_chat_msg msg;
    msg.role    = m.role ? m.role : "";
    msg.content = m.content ? m.content : "";
    return msg;
}

qwenvl_chat_templates * qwenvl_chat_templates_init(const llama_model * model, const char * template_override,
                                                   char * err, size_t err_len) {
    try {
        auto * t   = new qwenvl_chat_templates();
        t->ptr     = common_chat_templates_init(model, template_override ? template_override : "");
        t->source  = common_chat_templates_source(t->ptr.get());
        return t;
    } catch (const std::exception & e) {
        write_error(err, err_len, e.what());
    } catch (...) {
        write_error(err, err_len, "unknown error while parsing the chat template");
    }
    return nullptr;
}

void qwenvl_chat_templates_free(qwenvl_chat_templates * tmpls) {
    delete tmpls;
}

const char * qwenvl_chat_templates_source(const qwenvl_chat_templates * tmpls) {
    return tmpls->source.c_str();
}

int32_t qwenvl_chat_format_single(const qwenvl_chat_templates * tmpls, const llama_chat_message * past,
                                  size_t n_past, const llama_chat_message * new_msg, bool add_assistant,
                                  bool use_jinja, char * buf, int32_t len, char * err, size_t err_len) {
    try {
        std::vector<common_chat_msg> history;
        history.reserve(n_past);
        for (size_t i = 0; i < n_past; i++) {
            history.push_back(to_msg(past[i]));
        }
        const std::string out = common_chat_format_single(tmpls->ptr.get(), history, to_msg(*new_msg),
                                                          add_assistant, use_jinja);
        if (out.size() > INT32_MAX) {
            write_error(err, err_len, "formatted prompt exceeds 2 GiB");
            return -1;
        }
        if (buf != nullptr && len > 0) {
            std::memcpy(buf, out.data(), std::min(out.size(), (size_t) len));
        }
        return (int32_t) out.size();
    } catch (const std::exception & e) {
        write_error(err, err_len, e.what());
    } catch (...) {
        write_error(err, err_len, "unknown error while applying the chat template");
    }
    return -1;
}
