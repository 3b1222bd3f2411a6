/*
 * framekeep-cv: strict JPEG decoding over the system's libjpeg (libjpeg-turbo).
 *
 * OpenCV's imdecode lets libjpeg's warnings pass: a truncated frame, whose end
 * libjpeg invents ("Corrupt JPEG data: premature end of data segment"), decodes
 * "successfully", gray below the cut. Here every warning is an error, as with
 * TurboJPEG's TJFLAG_STOPONWARNING: the message handler jumps out at the first
 * one. libjpeg's error handling is setjmp/longjmp, so it stays in C: no jump
 * ever crosses a Rust frame.
 *
 * The decode mirrors OpenCV's JpegDecoder (same library, same settings: islow
 * IDCT, fancy upsampling, JCS_EXT_BGR output), so pixels are identical to
 * imdecode's.
 */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int warning; /* the failure was a warning: corrupt data */
    char message[JMSG_LENGTH_MAX];
} fk_error;

typedef struct {
    struct jpeg_decompress_struct cinfo;
    fk_error err;
    int created;
} fk_jpeg;

static void fk_error_exit(j_common_ptr cinfo) {
    fk_error *err = (fk_error *)cinfo->err;
    err->pub.format_message(cinfo, err->message);
    longjmp(err->jump, 1);
}

static void fk_emit_message(j_common_ptr cinfo, int level) {
    fk_error *err = (fk_error *)cinfo->err;
    if (level < 0) { /* a warning: the data is corrupt */
        err->warning = 1;
        err->pub.format_message(cinfo, err->message);
        longjmp(err->jump, 1);
    }
    /* level >= 0: trace messages, ignored */
}

/* A decoder, or NULL when out of memory. */
fk_jpeg *fk_jpeg_new(void) {
    fk_jpeg *volatile j = (fk_jpeg *)calloc(1, sizeof(fk_jpeg));
    if (j == NULL) {
        return NULL;
    }
    j->cinfo.err = jpeg_std_error(&j->err.pub);
    j->err.pub.error_exit = fk_error_exit;
    j->err.pub.emit_message = fk_emit_message;
    if (setjmp(j->err.jump)) {
        free(j);
        return NULL;
    }
    jpeg_create_decompress(&j->cinfo);
    j->created = 1;
    return j;
}

void fk_jpeg_free(fk_jpeg *j) {
    if (j == NULL) {
        return;
    }
    if (j->created) {
        jpeg_destroy_decompress(&j->cinfo);
    }
    free(j);
}

const char *fk_jpeg_message(const fk_jpeg *j) { return j->err.message; }

int fk_jpeg_was_warning(const fk_jpeg *j) { return j->err.warning; }

/*
 * Reads the headers of `data`: 0 and the image's size and component count, or
 * -1 (the message says why). `data` must stay valid until the decode is done.
 */
int fk_jpeg_header(fk_jpeg *j, const unsigned char *data, size_t len, unsigned *width,
                   unsigned *height, int *components) {
    j_decompress_ptr c = &j->cinfo;
    j->err.warning = 0;
    j->err.message[0] = '\0';
    if (setjmp(j->err.jump)) {
        jpeg_abort_decompress(c);
        return -1;
    }
    jpeg_mem_src(c, data, (unsigned long)len);
    jpeg_read_header(c, TRUE);
    *width = c->image_width;
    *height = c->image_height;
    *components = c->num_components;
    return 0;
}

/*
 * Decodes the image whose headers fk_jpeg_header read into `out`, rows `stride`
 * bytes apart: `space` 0 gray, 1 BGR, 2 RGB. 0 on success, -1 on an error or a
 * warning (fk_jpeg_was_warning tells which). The whole input is read, up to its
 * end-of-image marker.
 */
int fk_jpeg_decode(fk_jpeg *j, int space, unsigned char *out, size_t stride, size_t out_len) {
    j_decompress_ptr c = &j->cinfo;
    if (setjmp(j->err.jump)) {
        jpeg_abort_decompress(c);
        return -1;
    }
    switch (space) {
    case 0:
        c->out_color_space = JCS_GRAYSCALE;
        break;
    case 1:
        c->out_color_space = JCS_EXT_BGR;
        break;
    default:
        c->out_color_space = JCS_EXT_RGB;
        break;
    }
    jpeg_start_decompress(c);
    size_t row = (size_t)c->output_width * (size_t)c->output_components;
    size_t rows = c->output_height;
    if (row > stride || rows == 0 || (rows - 1) * stride + row > out_len) {
        snprintf(j->err.message, sizeof j->err.message,
                 "a %ux%u image does not fit the %zu-byte output (stride %zu)",
                 (unsigned)c->output_width, (unsigned)c->output_height, out_len, stride);
        jpeg_abort_decompress(c);
        return -1;
    }
    while (c->output_scanline < c->output_height) {
        JSAMPROW lines[8];
        size_t first = c->output_scanline;
        size_t n = c->output_height - first;
        if (n > 8) {
            n = 8;
        }
        for (size_t k = 0; k < n; k++) {
            lines[k] = out + (first + k) * stride;
        }
        jpeg_read_scanlines(c, lines, (JDIMENSION)n);
    }
    jpeg_finish_decompress(c);
    return 0;
}
