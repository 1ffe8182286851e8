#include "qwenvl-abort.h"

bool qwenvl_abort_when_flagged(void * flag) {
    return __atomic_load_n((const volatile unsigned char *) flag, __ATOMIC_RELAXED) != 0;
}
