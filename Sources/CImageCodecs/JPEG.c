#include "ImageCodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *message;
} jpeg_failure;

static void jpeg_fail(j_common_ptr info) {
    jpeg_failure *failure = (jpeg_failure *)info->err;
    char text[JMSG_LENGTH_MAX];
    (*info->err->format_message)(info, text);
    snprintf(failure->message, CODEC_MESSAGE_LENGTH, "%s", text);
    longjmp(failure->jump, 1);
}

/// Level -1 is a warning. The ones about missing or corrupt image data mean the pixels are
/// wrong (libjpeg goes on with grey), so they fail the decode; the others describe harmless
/// oddities of otherwise complete files (bytes after the image, an unknown JFIF revision).
static void jpeg_message(j_common_ptr info, int level) {
    if (level >= 0) return;
    switch (info->err->msg_code) {
    case JWRN_ADOBE_XFORM:
    case JWRN_EXTRANEOUS_DATA:
    case JWRN_JFIF_MAJOR:
    case JWRN_TOO_MUCH_DATA:
    case JWRN_BOGUS_ICC:
        return;
    default:
        jpeg_fail(info);
    }
}

int codec_decode_jpeg(const uint8_t *data, size_t size, codec_image *image) {
    memset(image, 0, sizeof *image);
    struct jpeg_decompress_struct info;
    memset(&info, 0, sizeof info);
    jpeg_failure failure;
    info.err = jpeg_std_error(&failure.base);
    failure.base.error_exit = jpeg_fail;
    failure.base.emit_message = jpeg_message;
    failure.message = image->message;
    uint8_t *volatile samples = NULL;
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&info);
        free(samples);
        return -1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    info.out_color_space = JCS_RGB;
    // libjpeg's default, stated: the accurate integer IDCT gives the same pixels on every
    // machine (libjpeg-turbo's SIMD versions are exact), as PIL's decoder does.
    info.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&info);
    size_t row = (size_t)info.output_width * (size_t)info.output_components;
    samples = malloc(row * info.output_height);
    if (samples == NULL) {
        snprintf(image->message, CODEC_MESSAGE_LENGTH, "out of memory for %ux%u pixels",
                 info.output_width, info.output_height);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW rows[1] = {samples + (size_t)info.output_scanline * row};
        jpeg_read_scanlines(&info, rows, 1);
    }
    jpeg_finish_decompress(&info);
    image->width = (int)info.output_width;
    image->height = (int)info.output_height;
    image->channels = info.output_components;
    image->bit_depth = 8;
    image->samples = samples;
    jpeg_destroy_decompress(&info);
    return 0;
}

void codec_image_free(codec_image *image) {
    free(image->samples);
    free(image->palette);
    image->samples = NULL;
    image->palette = NULL;
}
