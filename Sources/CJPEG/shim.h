// libjpeg-turbo's libjpeg API. jpeglib.h uses FILE and size_t without including their headers.
// No include guard named JPEGLIB_H here: that would hide the library's own header.
#include <stddef.h>
#include <stdio.h>
#include <jpeglib.h>
#include <jerror.h>
