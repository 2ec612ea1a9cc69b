/* The layout of a GL scanout QEMU's D-Bus display hands over as a DMABUF
 * (org.qemu.Display1.Listener.ScanoutDMABUF, and ScanoutDMABUF2 from QEMU
 * 10.1 on), checked before anything is mapped.
 *
 * Only linear single-plane 32-bit buffers can be read by mapping them: the
 * modifier DRM_FORMAT_MOD_LINEAR, or DRM_FORMAT_MOD_INVALID, which QEMU
 * passes for a buffer exported without one (implicitly linear). A tiled or
 * compressed buffer (any other modifier) needs a GPU to import it (EGL) and
 * is refused with a reason that says so.
 *
 * Orientation: QEMU's y0_top is its GL scanouts' flag (virtio-gpu's
 * VIRTIO_GPU_RESOURCE_FLAG_Y_0_TOP, which virgl sets on every resource the
 * guest creates with RESOURCE_CREATE_2D). A texture with y0_top set holds
 * the guest's picture bottom-up: its first row in memory is the bottom of
 * the picture, and QEMU's own GL displays flip exactly those
 * (egl-headless's readback blits with flip = y0_top, gtk-egl with
 * flip = !y0_top into a window whose origin is its bottom). y0_top false
 * (QEMU's 2D surfaces uploaded into textures) is top-down. */
#ifndef HFX_FRONTEND_DMABUF_H
#define HFX_FRONTEND_DMABUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HFX_DRM_FORMAT_MOD_LINEAR 0ull
#define HFX_DRM_FORMAT_MOD_INVALID 0x00ffffffffffffffull
/* The largest buffer a picture is taken from (GPUs' texture limit). */
#define HFX_DMABUF_MAX_BACKING 16384

/* What QEMU says about one plane. ScanoutDMABUF (QEMU 10.0) has no x, y,
 * offset or backing size: the picture is the buffer's top left corner at
 * offset 0 and the backing is taken to be the picture's size. */
struct hfx_dmabuf_desc {
    uint32_t x, y, width, height;           /* the picture within the backing */
    uint32_t backing_width, backing_height;
    uint32_t offset, stride, fourcc;
    uint64_t modifier;
    bool y0_top;                            /* true: bottom-up in memory */
};

/* Where the picture lies in the fd. */
struct hfx_dmabuf_layout {
    uint64_t start, len;    /* the bytes to map: every row of the picture */
    uint64_t top;           /* its top row's first pixel, from start */
    int32_t stride;         /* from one row of the picture to the one below */
};

/* Checks d against a buffer of fd_size bytes and says where the picture
 * is. -1 with err filled (every refusal names the field and its value);
 * non-linear modifiers also set *nonlinear, for a one-time explanation. */
int hfx_dmabuf_layout(const struct hfx_dmabuf_desc *d, uint64_t fd_size,
                      struct hfx_dmabuf_layout *out, bool *nonlinear, char *err, size_t errlen);

/* "Intel", "AMD", ... for a modifier's vendor byte ("vendor 0xNN" when
 * unknown). */
const char *hfx_dmabuf_modifier_vendor(uint64_t modifier, char *buf, size_t len);

#endif
