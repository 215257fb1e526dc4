// libpng 1.6. No include guard named PNG_H here: that would hide the library's own header.
#include <png.h>
