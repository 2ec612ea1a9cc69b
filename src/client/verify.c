#include "client/verify.h"

#include <libyuv.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RECTS 8

struct hfx_verify {
    enum hfx_workload wl;
    struct hfx_synth *synth;
    uint32_t width, height;
    uint8_t *y, *u, *v;
};

struct hfx_verify *hfx_verify_new(enum hfx_workload wl)
{
    struct hfx_verify *v = calloc(1, sizeof *v);
    if (v)
        v->wl = wl;
    return v;
}

static void drop_reference(struct hfx_verify *v)
{
    hfx_synth_free(v->synth);
    free(v->y);
    free(v->u);
    free(v->v);
    v->synth = NULL;
    v->y = v->u = v->v = NULL;
}

void hfx_verify_free(struct hfx_verify *v)
{
    if (!v)
        return;
    drop_reference(v);
    free(v);
}

static int restart(struct hfx_verify *v, uint32_t w, uint32_t h)
{
    drop_reference(v);
    size_t chroma = (size_t)((w + 1) / 2) * ((h + 1) / 2);
    v->synth = hfx_synth_new(v->wl, w, h);
    v->y = malloc((size_t)w * h);
    v->u = malloc(chroma);
    v->v = malloc(chroma);
    v->width = w;
    v->height = h;
    if (!v->synth || !v->y || !v->u || !v->v)
        return -1;
    struct hfx_rect rects[MAX_RECTS];
    hfx_synth_next(v->synth, rects, MAX_RECTS); /* frame 0 */
    return 0;
}

/* Rect r of the reference takes the picture's luma: left out of the PSNR. */
static void copy_luma(struct hfx_verify *v, const struct hfx_decoded *pic, struct hfx_rect r)
{
    for (int32_t y = r.y; y < r.y + r.h; y++)
        memcpy(v->y + (size_t)y * v->width + r.x, pic->plane[0] + (size_t)y * pic->stride[0] + r.x,
               (size_t)r.w);
}

int hfx_verify_read_input(const struct hfx_decoded *pic, struct hfx_input_stamp *out)
{
    return hfx_input_stamp_read_luma(pic->plane[0], pic->stride[0], pic->width, pic->height, out);
}

double hfx_verify_psnr(struct hfx_verify *v, const struct hfx_decoded *pic, int64_t number)
{
    if (number < 0)
        return -1;
    if (!v->synth || pic->width != v->width || pic->height != v->height ||
        number < (int64_t)hfx_synth_frame(v->synth))
        if (restart(v, pic->width, pic->height) < 0)
            return -1;
    struct hfx_rect rects[MAX_RECTS];
    while ((int64_t)hfx_synth_frame(v->synth) < number && hfx_synth_next(v->synth, rects, MAX_RECTS) > 0)
        ;
    /* The engine converts with the same libyuv call, so a lossless encode
     * would compare as identical. */
    uint32_t half = (v->width + 1) / 2;
    ARGBToI420(hfx_synth_pixels(v->synth), (int)hfx_synth_stride(v->synth), v->y, (int)v->width,
               v->u, (int)half, v->v, (int)half, (int)v->width, (int)v->height);
    struct hfx_input_stamp in;
    if (hfx_verify_read_input(pic, &in) == 0) {
        copy_luma(v, pic, hfx_input_panel_rect(v->width, v->height));
        copy_luma(v, pic, hfx_input_pointer_rect(&in, v->width, v->height));
    }
    return hfx_psnr_y(pic->plane[0], pic->stride[0], v->y, v->width, v->width, v->height);
}
