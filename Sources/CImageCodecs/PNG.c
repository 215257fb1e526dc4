#include "ImageCodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>

/// libpng's error callback: keep the message, return to the setjmp of the function that called
/// into libpng. (libpng aborts the process if an error handler returns.)
static void png_fail(png_structp png, png_const_charp text) {
    char *message = png_get_error_ptr(png);
    snprintf(message, CODEC_MESSAGE_LENGTH, "%s", text);
    png_longjmp(png, 1);
}

/// Warnings (an ancillary chunk with a bad CRC, a questionable colour profile) leave the pixels
/// intact; libpng's default would print them to stderr.
static void png_ignore(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
} png_source;

static void png_read_memory(png_structp png, png_bytep out, size_t length) {
    png_source *source = png_get_io_ptr(png);
    if (length > source->size - source->offset) png_error(png, "the file ends early (truncated)");
    memcpy(out, source->data + source->offset, length);
    source->offset += length;
}

int codec_decode_png(const uint8_t *data, size_t size, codec_image *image) {
    memset(image, 0, sizeof *image);
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        snprintf(image->message, CODEC_MESSAGE_LENGTH, "not a PNG file (bad signature)");
        return -1;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, image->message, png_fail, png_ignore);
    png_infop info = png == NULL ? NULL : png_create_info_struct(png);
    if (info == NULL) {
        snprintf(image->message, CODEC_MESSAGE_LENGTH, "libpng could not allocate its state");
        png_destroy_read_struct(&png, NULL, NULL);
        return -1;
    }
    png_source source = {data, size, 0};
    uint8_t *volatile samples = NULL;
    uint8_t *volatile palette = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(samples);
        free(palette);
        free(rows);
        return -1;
    }
    png_set_read_fn(png, &source, png_read_memory);
    png_read_info(png, info);
    png_uint_32 width, height;
    int depth, colour, interlace;
    png_get_IHDR(png, info, &width, &height, &depth, &colour, &interlace, NULL, NULL);
    int channels = png_get_channels(png, info);
    if (depth < 8) png_set_packing(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t row = png_get_rowbytes(png, info);
    if (row != (size_t)width * (size_t)channels * (depth == 16 ? 2 : 1)) {
        png_error(png, "unexpected row layout");
    }
    samples = malloc(row * height);
    rows = malloc(sizeof(png_bytep) * height);
    if (samples == NULL || rows == NULL) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = samples + (size_t)y * row;
    png_read_image(png, rows);
    // Reads to IEND, so a file cut after its image data is an error too.
    png_read_end(png, NULL);
    if (colour == PNG_COLOR_TYPE_PALETTE) {
        png_colorp entries;
        int count = 0;
        if (png_get_PLTE(png, info, &entries, &count) != PNG_INFO_PLTE || count <= 0) {
            png_error(png, "palette image without a palette");
        }
        palette = malloc(3 * (size_t)count);
        if (palette == NULL) png_error(png, "out of memory");
        for (int i = 0; i < count; i++) {
            palette[3 * i] = entries[i].red;
            palette[3 * i + 1] = entries[i].green;
            palette[3 * i + 2] = entries[i].blue;
        }
        image->palette_entries = count;
    }
    image->width = (int)width;
    image->height = (int)height;
    image->channels = channels;
    image->bit_depth = depth;
    image->samples = samples;
    image->palette = palette;
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

typedef struct {
    codec_buffer *out;
    size_t capacity;
} png_sink;

static void png_write_memory(png_structp png, png_bytep data, size_t length) {
    png_sink *sink = png_get_io_ptr(png);
    codec_buffer *out = sink->out;
    if (out->size + length > sink->capacity) {
        size_t capacity = sink->capacity * 2 > out->size + length ? sink->capacity * 2 : out->size + length;
        uint8_t *grown = realloc(out->bytes, capacity);
        if (grown == NULL) png_error(png, "out of memory");
        out->bytes = grown;
        sink->capacity = capacity;
    }
    memcpy(out->bytes + out->size, data, length);
    out->size += length;
}

static void png_flush_memory(png_structp png) { (void)png; }

int codec_encode_png(const uint8_t *samples, int width, int height, int channels, int bit_depth,
                     const uint8_t *palette, int palette_entries, codec_buffer *out) {
    memset(out, 0, sizeof *out);
    static const int colour_types[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                       PNG_COLOR_TYPE_RGB_ALPHA};
    if (width <= 0 || height <= 0 || channels < 1 || channels > 4 || (bit_depth != 8 && bit_depth != 16) ||
        (palette != NULL && (channels != 1 || bit_depth != 8 || palette_entries < 1 || palette_entries > 256))) {
        snprintf(out->message, CODEC_MESSAGE_LENGTH, "cannot write %dx%d, %d channel(s) at %d bits%s", width,
                 height, channels, bit_depth, palette != NULL ? " with a palette" : "");
        return -1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, out->message, png_fail, png_ignore);
    png_infop info = png == NULL ? NULL : png_create_info_struct(png);
    if (info == NULL) {
        snprintf(out->message, CODEC_MESSAGE_LENGTH, "libpng could not allocate its state");
        png_destroy_write_struct(&png, NULL);
        return -1;
    }
    png_sink sink = {out, 0};
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        codec_buffer_free(out);
        return -1;
    }
    png_set_write_fn(png, &sink, png_write_memory, png_flush_memory);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth,
                 palette != NULL ? PNG_COLOR_TYPE_PALETTE : colour_types[channels], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette != NULL) {
        png_color entries[256];
        for (int i = 0; i < palette_entries; i++) {
            entries[i].red = palette[3 * i];
            entries[i].green = palette[3 * i + 1];
            entries[i].blue = palette[3 * i + 2];
        }
        png_set_PLTE(png, info, entries, palette_entries);
    }
    png_write_info(png, info);
    size_t row = (size_t)width * (size_t)channels * (bit_depth == 16 ? 2 : 1);
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (rows == NULL) png_error(png, "out of memory");
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)(samples + (size_t)y * row);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    return 0;
}

void codec_buffer_free(codec_buffer *buffer) {
    free(buffer->bytes);
    buffer->bytes = NULL;
    buffer->size = 0;
}
