// The public header compiles alone as C++ (see tests/CMakeLists.txt).
#include "belt.h"

int belt_test_header_cxx();
int belt_test_header_cxx()
{
    belt_error err = {BELT_OK, 0, ""};
    return static_cast<int>(err.code);
}
