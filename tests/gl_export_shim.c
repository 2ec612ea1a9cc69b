/* For tests only: LD_PRELOADed into a stock QEMU, stands in for the DMABUF
 * export that a GPU driver (or Mesa's llvmpipe with /dev/udmabuf) would do,
 * so that QEMU's D-Bus display sends GL scanouts on a machine that has
 * neither.
 *
 * QEMU 10.0.2 sends a GL scanout to a D-Bus listener only after
 * egl_get_fd_for_texture() has a DMABUF of the texture; here Mesa's
 * llvmpipe answers eglExportDMABUFImageMESA with success and fd -1, and
 * QEMU logs "dbus_scanout_texture: failed to get fd for texture". This
 * library defines libepoxy's dispatch pointer for eglExportDMABUFImageMESA
 * (a data symbol: QEMU's ui-opengl module binds to this one, loaded first),
 * and answers with a memfd holding a copy of the texture read back with
 * glGetTexImage: row 0 of the texture first, as a linear DMABUF of it would
 * be laid out. Everything else is real: QEMU's listener code, virgl's
 * textures and their y0_top, the D-Bus messages and fd passing.
 *
 * What it cannot stand in for: a DMABUF is the texture's memory, and this
 * copy is taken once, at the export. QEMU exports at every scanout (for
 * virtio-gpu: every SET_SCANOUT, so every page flip of a guest that
 * flips), not at the UpdateDMABUF of rendering into the texture shown; a
 * guest that draws without flipping is seen only at its next flip. */
#include <epoxy/egl.h>
#include <epoxy/gl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static EGLBoolean export_copy(EGLDisplay dpy, EGLImageKHR image, int *fds, EGLint *strides,
                              EGLint *offsets)
{
    /* The layout QEMU announces is Mesa's answer to the query (the
     * texture's storage): the copy is read back in that byte order. */
    int fourcc = 0, planes = 0;
    EGLuint64KHR modifier;
    if (!eglExportDMABUFImageQueryMESA(dpy, image, &fourcc, &planes, &modifier))
        return EGL_FALSE;
    GLenum order;
    switch (fourcc) {
    case 0x34325241: /* AR24 */
    case 0x34325258: /* XR24: bytes B, G, R, A/X */
        order = GL_BGRA;
        break;
    case 0x34324241: /* AB24 */
    case 0x34324258: /* XB24: bytes R, G, B, A/X */
        order = GL_RGBA;
        break;
    default:
        return EGL_FALSE;
    }
    /* QEMU's GL context is current (its main loop, inside a display
     * callback): whatever state is touched is put back. */
    GLint old_tex, old_pack_buffer, old_align, old_row;
    glGetIntegerv(GL_TEXTURE_BINDING_2D, &old_tex);
    glGetIntegerv(GL_PIXEL_PACK_BUFFER_BINDING, &old_pack_buffer);
    glGetIntegerv(GL_PACK_ALIGNMENT, &old_align);
    glGetIntegerv(GL_PACK_ROW_LENGTH, &old_row);
    GLuint tex;
    glGenTextures(1, &tex);
    glBindTexture(GL_TEXTURE_2D, tex);
    glEGLImageTargetTexture2DOES(GL_TEXTURE_2D, (GLeglImageOES)image);
    GLint w = 0, h = 0;
    glGetTexLevelParameteriv(GL_TEXTURE_2D, 0, GL_TEXTURE_WIDTH, &w);
    glGetTexLevelParameteriv(GL_TEXTURE_2D, 0, GL_TEXTURE_HEIGHT, &h);
    int fd = -1;
    size_t size = (size_t)w * 4 * (size_t)h;
    if (w > 0 && h > 0)
        fd = memfd_create("gl-export-shim", MFD_CLOEXEC);
    void *p = MAP_FAILED;
    if (fd >= 0 && ftruncate(fd, (off_t)size) == 0)
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
        glBindBuffer(GL_PIXEL_PACK_BUFFER, 0);
        glPixelStorei(GL_PACK_ALIGNMENT, 4);
        glPixelStorei(GL_PACK_ROW_LENGTH, 0);
        glGetTexImage(GL_TEXTURE_2D, 0, order, GL_UNSIGNED_BYTE, p);
        munmap(p, size);
    } else if (fd >= 0) {
        close(fd);
        fd = -1;
    }
    glBindBuffer(GL_PIXEL_PACK_BUFFER, (GLuint)old_pack_buffer);
    glPixelStorei(GL_PACK_ALIGNMENT, old_align);
    glPixelStorei(GL_PACK_ROW_LENGTH, old_row);
    glBindTexture(GL_TEXTURE_2D, (GLuint)old_tex);
    glDeleteTextures(1, &tex);
    fds[0] = fd;
    if (strides)
        strides[0] = w * 4;
    if (offsets)
        offsets[0] = 0;
    return fd >= 0;
}

/* libepoxy's pointer, which QEMU calls through: this definition comes
 * first in the lookup order, so QEMU's modules bind to it. */
PFNEGLEXPORTDMABUFIMAGEMESAPROC epoxy_eglExportDMABUFImageMESA = export_copy;
