/* Who may watch and switch which head: tokens derived from the exporter's
 * secret (docs/protocol.md, "Access control").
 *
 * The control token grants everything; it is the same for as long as the
 * secret is, so a trusted guest daemon can receive it out of band (fw_cfg)
 * and keep it across exporter restarts. A head token grants one scanout; it
 * names the head's current epoch, and minting a new one or revoking bumps
 * the epoch, so older tokens for that head stop working. Epochs start at a
 * random value each run: head tokens never outlive the exporter that minted
 * them. Loop-thread only, except hfx_access_control_token. */
#ifndef HFX_SERVER_ACCESS_H
#define HFX_SERVER_ACCESS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/hxfr.h"

#define HFX_SECRET_MIN 16u
#define HFX_SECRET_MAX 256u
/* Room for any token this module writes, NUL included. */
#define HFX_TOKEN_SIZE (HXFR_MAX_TOKEN + 1)

struct hfx_access;

/* secret_file: NULL for a fresh random secret; a path that does not exist
 * is created (mode 0600) with a random one, so a restarted exporter can
 * keep its control token. */
struct hfx_access *hfx_access_new(const char *secret_file, char *err, size_t errlen);
void hfx_access_free(struct hfx_access *a);

void hfx_access_control_token(const struct hfx_access *a, char out[HFX_TOKEN_SIZE]);
/* A new token for one head; every earlier one for it is revoked. */
void hfx_access_mint(struct hfx_access *a, uint32_t scanout, char out[HFX_TOKEN_SIZE]);
void hfx_access_revoke(struct hfx_access *a, uint32_t scanout);

/* What a token grants, or why it grants nothing. */
enum hfx_grant { HFX_GRANT_NONE, HFX_GRANT_CONTROL, HFX_GRANT_HEAD };
struct hfx_access_check {
    enum hfx_grant grant;
    uint32_t scanout;       /* HFX_GRANT_HEAD */
    uint64_t epoch;         /* HFX_GRANT_HEAD: still valid while it is current */
    const char *why;        /* HFX_GRANT_NONE */
};
void hfx_access_check(const struct hfx_access *a, const char *token,
                      struct hfx_access_check *out);
uint64_t hfx_access_epoch(const struct hfx_access *a, uint32_t scanout);

/* The control token a secret file yields (hfx token), without a server; a
 * missing file is created with a new secret, as hfx_access_new does. */
int hfx_access_token_from_file(const char *secret_file, char out[HFX_TOKEN_SIZE], char *err,
                               size_t errlen);

#endif
