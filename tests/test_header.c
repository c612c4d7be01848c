/* The public header compiles alone as C11 -pedantic (see tests/CMakeLists.txt). */
#include "belt.h"

int belt_test_header_c(void);
int belt_test_header_c(void)
{
    struct belt_error err = {BELT_OK, 0, ""};
    return (int)err.code;
}
