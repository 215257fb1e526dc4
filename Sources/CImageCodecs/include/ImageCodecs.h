// JPEG and PNG through libjpeg-turbo and libpng, for Engine's real-data loaders and its PNG output.
// Both libraries report a damaged file by longjmp (and libjpeg's default handler exits the
// process), which Swift cannot catch, so the setjmp side lives here in C: every function returns
// 0 on success, or -1 with `message` saying what libjpeg or libpng found wrong.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define CODEC_MESSAGE_LENGTH 256

/// A decoded image. `samples` holds `width * height * channels` interleaved samples, one byte
/// each, or two (big-endian, as PNG stores them) when `bit_depth` is 16. Depths below 8 are
/// unpacked to one byte per sample, unscaled (0 ... 2^depth - 1).
typedef struct {
    int width;
    int height;
    int channels;
    /// The file's bit depth: 8 for JPEG; 1, 2, 4, 8 or 16 for PNG.
    int bit_depth;
    uint8_t *samples;
    /// A palette PNG's RGB triples (`samples` are then its indices), else NULL.
    uint8_t *palette;
    int palette_entries;
    char message[CODEC_MESSAGE_LENGTH];
} codec_image;

/// Any baseline or progressive JPEG, as 8-bit RGB (grey images repeated into three channels).
/// Data missing or damaged in the entropy-coded segment, which libjpeg only warns about (it
/// fills the rest of the image with grey), is an error here too.
int codec_decode_jpeg(const uint8_t *data, size_t size, codec_image *image);

/// Any PNG (every colour type and bit depth, interlaced or not), samples as stored: palette
/// indices are kept (label maps are palette images whose indices are the classes), alpha too.
int codec_decode_png(const uint8_t *data, size_t size, codec_image *image);

/// Frees what a decode allocated (also after a failure: nothing is left then).
void codec_image_free(codec_image *image);

typedef struct {
    uint8_t *bytes;
    size_t size;
    char message[CODEC_MESSAGE_LENGTH];
} codec_buffer;

/// A PNG of `samples` laid out as `codec_image`'s (16-bit samples big-endian): grey (1 channel),
/// grey + alpha (2), RGB (3) or RGBA (4) at depth 8 or 16, or 8-bit palette indices (1 channel)
/// when `palette` (RGB triples, `palette_entries` of them, at most 256) is given.
int codec_encode_png(const uint8_t *samples, int width, int height, int channels, int bit_depth,
                     const uint8_t *palette, int palette_entries, codec_buffer *out);

void codec_buffer_free(codec_buffer *buffer);
