/* The display-lease socket protocol (guest/README.md): what launchers
 * already speak, so every size and offset here is fixed. Shared by the
 * manager and by the clients in the test guest so both sides are read from
 * one place. Integers are little-endian whatever the CPU. */
#ifndef HFX_LEASE_WIRE_H
#define HFX_LEASE_WIRE_H

#include <stdint.h>
#include <string.h>

#define LEASE_REQ_SIZE 9
#define LEASE_RESP_SIZE 69
#define LEASE_TEXT_SIZE 64
/* Command 3 (ours, not the deployed launchers'): the 69-byte response is
 * followed by the lessee's access token, NUL-padded to this size. */
#define LEASE_TOKEN_SIZE 128
#define LEASE_RESP_TOKEN_SIZE (LEASE_RESP_SIZE + LEASE_TOKEN_SIZE)

enum lease_cmd {
    LEASE_CMD_LEASE = 1,
    LEASE_CMD_RELEASE = 2, /* the head id travels in the width field */
    LEASE_CMD_LEASE_TOKEN = 3, /* a lease, and a token for watching that head only */
};

enum lease_status { LEASE_OK = 0, LEASE_ERROR = 1 };

/* 0x0 asks for the default size. */
#define LEASE_DEFAULT_W 1920u
#define LEASE_DEFAULT_H 1080u
#define LEASE_MIN_SIDE 16u
#define LEASE_MAX_W 5120u
#define LEASE_MAX_H 2880u

struct lease_req {
    uint8_t cmd;
    uint32_t width, height;
};

struct lease_resp {
    uint8_t status;
    uint32_t scanout_id;
    char text[LEASE_TEXT_SIZE + 1]; /* connector name or error, NUL-terminated */
};

static inline void lease_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t lease_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void lease_req_put(uint8_t out[LEASE_REQ_SIZE], const struct lease_req *r)
{
    out[0] = r->cmd;
    lease_put_u32(out + 1, r->width);
    lease_put_u32(out + 5, r->height);
}

static inline void lease_req_get(const uint8_t in[LEASE_REQ_SIZE], struct lease_req *r)
{
    r->cmd = in[0];
    r->width = lease_get_u32(in + 1);
    r->height = lease_get_u32(in + 5);
}

/* The text is cut to 63 characters so the field always ends in a NUL. */
static inline void lease_resp_put(uint8_t out[LEASE_RESP_SIZE], const struct lease_resp *r)
{
    memset(out, 0, LEASE_RESP_SIZE);
    out[0] = r->status;
    lease_put_u32(out + 1, r->scanout_id);
    size_t n = strnlen(r->text, LEASE_TEXT_SIZE - 1);
    memcpy(out + 5, r->text, n);
}

static inline void lease_resp_get(const uint8_t in[LEASE_RESP_SIZE], struct lease_resp *r)
{
    r->status = in[0];
    r->scanout_id = lease_get_u32(in + 1);
    size_t n = strnlen((const char *)in + 5, LEASE_TEXT_SIZE);
    memcpy(r->text, in + 5, n);
    r->text[n] = '\0';
}

#endif
