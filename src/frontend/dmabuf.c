#include "frontend/dmabuf.h"

#include <stdio.h>

#include "engine/engine.h"

const char *hfx_dmabuf_modifier_vendor(uint64_t modifier, char *buf, size_t len)
{
    static const char *const vendors[] = {NULL,       "Intel",    "AMD",      "NVIDIA",
                                          "Samsung",  "Qualcomm", "Vivante",  "Broadcom",
                                          "ARM",      "Allwinner", "Amlogic"};
    unsigned v = (unsigned)(modifier >> 56);
    if (v < sizeof vendors / sizeof vendors[0] && vendors[v])
        return vendors[v];
    snprintf(buf, len, "vendor 0x%02x", v);
    return buf;
}

/* The fourcc's four letters when they are printable, for messages. */
static const char *fourcc_name(uint32_t fourcc, char buf[5])
{
    for (int i = 0; i < 4; i++) {
        char ch = (char)(fourcc >> (8 * i));
        buf[i] = ch >= 0x20 && ch < 0x7f ? ch : '?';
    }
    buf[4] = 0;
    return buf;
}

int hfx_dmabuf_layout(const struct hfx_dmabuf_desc *d, uint64_t fd_size,
                      struct hfx_dmabuf_layout *out, bool *nonlinear, char *err, size_t errlen)
{
    char name[5], vendor[16];
    *nonlinear = false;
    if (d->width < 2 || d->height < 2 || d->width > HFX_MAX_WIDTH || d->height > HFX_MAX_HEIGHT) {
        snprintf(err, errlen, "size %ux%u is outside 2x2..%ux%u", d->width, d->height,
                 HFX_MAX_WIDTH, HFX_MAX_HEIGHT);
        return -1;
    }
    if (d->backing_width > HFX_DMABUF_MAX_BACKING || d->backing_height > HFX_DMABUF_MAX_BACKING ||
        (uint64_t)d->x + d->width > d->backing_width ||
        (uint64_t)d->y + d->height > d->backing_height) {
        snprintf(err, errlen, "the picture %ux%u at %u,%u is not inside the %ux%u buffer "
                 "(at most %ux%u)", d->width, d->height, d->x, d->y, d->backing_width,
                 d->backing_height, HFX_DMABUF_MAX_BACKING, HFX_DMABUF_MAX_BACKING);
        return -1;
    }
    if (d->modifier != HFX_DRM_FORMAT_MOD_LINEAR && d->modifier != HFX_DRM_FORMAT_MOD_INVALID) {
        *nonlinear = true;
        snprintf(err, errlen, "modifier 0x%016llx (%s) is not linear: the buffer is tiled or "
                 "compressed, and reading it needs an EGL import on a GPU, which the D-Bus "
                 "front end does not do", (unsigned long long)d->modifier,
                 hfx_dmabuf_modifier_vendor(d->modifier, vendor, sizeof vendor));
        return -1;
    }
    if (!hfx_format_supported(d->fourcc)) {
        snprintf(err, errlen, "pixel format '%s' (fourcc 0x%08x) is not one of the 32-bit RGB "
                 "formats the encoder takes", fourcc_name(d->fourcc, name), d->fourcc);
        return -1;
    }
    uint64_t row = ((uint64_t)d->x + d->width) * 4;
    if (d->stride % 4 || d->stride < row || d->stride > HFX_DMABUF_MAX_BACKING * 8u) {
        snprintf(err, errlen, "stride %u does not fit %u pixels from x %u (4-byte aligned, "
                 "at most %u)", d->stride, d->width, d->x, HFX_DMABUF_MAX_BACKING * 8u);
        return -1;
    }
    if (d->offset % 4) {
        snprintf(err, errlen, "offset %u is not 4-byte aligned", d->offset);
        return -1;
    }
    /* The picture's rows in memory, first to last. */
    uint64_t first = d->y0_top ? (uint64_t)d->backing_height - d->y - d->height : d->y;
    uint64_t last = first + d->height - 1;
    uint64_t start = d->offset + first * d->stride + (uint64_t)d->x * 4;
    uint64_t end = d->offset + last * d->stride + row;
    if (end > fd_size) {
        snprintf(err, errlen, "the picture ends at byte %llu (offset %u, stride %u, rows "
                 "%llu..%llu of %u) beyond the end of the buffer (%llu bytes)",
                 (unsigned long long)end, d->offset, d->stride, (unsigned long long)first,
                 (unsigned long long)last, d->backing_height, (unsigned long long)fd_size);
        return -1;
    }
    *out = (struct hfx_dmabuf_layout){
        .start = start,
        .len = end - start,
        .top = d->y0_top ? (last - first) * d->stride : 0,
        .stride = d->y0_top ? -(int32_t)d->stride : (int32_t)d->stride,
    };
    return 0;
}
