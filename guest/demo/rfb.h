/* A minimal RFB 3.8 client (RFC 6143), just enough to time QEMU's built-in
 * VNC server: no authentication, 32 bpp true colour, Raw (and optionally
 * CopyRect) encodings, incremental update requests. */
#ifndef HFX_GUEST_RFB_H
#define HFX_GUEST_RFB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rfb {
    int fd;
    uint8_t *buf;
    size_t cap, len, off; /* buf[off..len) is unread */
    uint16_t width, height;
};

/* Connects to host:port, handshakes (security type None, shared session),
 * sets the pixel format and encodings and asks for the whole screen. */
int rfb_connect(struct rfb *r, const char *host, long port, bool copyrect, int timeout_ms);
void rfb_close(struct rfb *r);
/* Asks for the next update of the whole screen. */
int rfb_request(struct rfb *r, bool incremental);
/* Waits for the next FramebufferUpdate and reads all of it: 1 (with its size
 * in bytes, header included), 0 when none began within timeout_ms (0: only
 * what is buffered), -1 on error (said). Other server messages are skipped. */
int rfb_next_update(struct rfb *r, int timeout_ms, uint64_t *bytes);

#endif
