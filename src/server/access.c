/* Tokens are HMAC-SHA256 (GLib's GHmac) of their own text under the
 * exporter's secret:
 *
 *   hfx1.c.MAC                   control
 *   hfx1.hN.EPOCH.MAC            scanout N at EPOCH (16 hex digits)
 *
 * so checking one needs no table of issued tokens, only each head's epoch. */
#include "server/access.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define MAC_HEX 64

struct hfx_access {
    uint8_t secret[HFX_SECRET_MAX];
    size_t secret_len;
    uint64_t epoch[HXFR_MAX_SCANOUTS];
};

static void mac_hex(const uint8_t *secret, size_t secret_len, const char *text,
                    char out[MAC_HEX + 1])
{
    GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, secret, secret_len);
    g_hmac_update(h, (const guchar *)text, (gssize)strlen(text));
    g_strlcpy(out, g_hmac_get_string(h), MAC_HEX + 1);
    g_hmac_unref(h);
}

static int random_bytes(uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A new secret file holds 64 hex digits: easy to copy, back up and diff. */
static int create_secret_file(const char *path, char *err, size_t errlen)
{
    uint8_t raw[32];
    if (random_bytes(raw, sizeof raw) < 0) {
        snprintf(err, errlen, "no random bytes for a secret: %s", strerror(errno));
        return -1;
    }
    char text[2 * sizeof raw + 2];
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(text + 2 * i, 3, "%02x", raw[i]);
    strcat(text, "\n");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create the secret file %s: %s", path, strerror(errno));
        return -1;
    }
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    if (close(fd) < 0 || !ok) {
        snprintf(err, errlen, "cannot write the secret file %s", path);
        unlink(path);
        return -1;
    }
    return 0;
}

static int read_secret(const char *path, bool create, uint8_t *secret, size_t *len, char *err,
                       size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        if (create_secret_file(path, err, errlen) < 0)
            return -1;
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the secret file %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, secret + n, HFX_SECRET_MAX - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == HFX_SECRET_MAX)
            break;
    }
    close(fd);
    while (n && (secret[n - 1] == '\n' || secret[n - 1] == '\r'))
        n--;
    if (n < HFX_SECRET_MIN) {
        snprintf(err, errlen, "the secret in %s is shorter than %u bytes", path, HFX_SECRET_MIN);
        return -1;
    }
    *len = n;
    return 0;
}

struct hfx_access *hfx_access_new(const char *secret_file, char *err, size_t errlen)
{
    struct hfx_access *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int rc = secret_file ? read_secret(secret_file, true, a->secret, &a->secret_len, err, errlen)
                         : random_bytes(a->secret, a->secret_len = 32);
    if (rc == 0 && random_bytes((uint8_t *)a->epoch, sizeof a->epoch) < 0)
        rc = -1;
    if (rc < 0) {
        if (!*err)
            snprintf(err, errlen, "no random bytes: %s", strerror(errno));
        free(a);
        return NULL;
    }
    return a;
}

void hfx_access_free(struct hfx_access *a)
{
    free(a);
}

static void control_token(const uint8_t *secret, size_t len, char out[HFX_TOKEN_SIZE])
{
    char mac[MAC_HEX + 1];
    mac_hex(secret, len, "hfx1.c", mac);
    snprintf(out, HFX_TOKEN_SIZE, "hfx1.c.%s", mac);
}

void hfx_access_control_token(const struct hfx_access *a, char out[HFX_TOKEN_SIZE])
{
    control_token(a->secret, a->secret_len, out);
}

int hfx_access_token_from_file(const char *secret_file, char out[HFX_TOKEN_SIZE], char *err,
                               size_t errlen)
{
    uint8_t secret[HFX_SECRET_MAX];
    size_t len;
    /* Created when missing, as the exporter that will run with it would:
     * the token goes to the guest before QEMU starts (scripts/vm --in-qemu). */
    if (read_secret(secret_file, true, secret, &len, err, errlen) < 0)
        return -1;
    control_token(secret, len, out);
    return 0;
}

static void head_token(const struct hfx_access *a, uint32_t scanout, uint64_t epoch,
                       char out[HFX_TOKEN_SIZE])
{
    char body[48], mac[MAC_HEX + 1];
    snprintf(body, sizeof body, "hfx1.h%u.%016" PRIx64, scanout, epoch);
    mac_hex(a->secret, a->secret_len, body, mac);
    snprintf(out, HFX_TOKEN_SIZE, "%s.%s", body, mac);
}

void hfx_access_mint(struct hfx_access *a, uint32_t scanout, char out[HFX_TOKEN_SIZE])
{
    hfx_access_revoke(a, scanout);
    head_token(a, scanout, a->epoch[scanout], out);
}

void hfx_access_revoke(struct hfx_access *a, uint32_t scanout)
{
    if (scanout < HXFR_MAX_SCANOUTS)
        a->epoch[scanout]++;
}

uint64_t hfx_access_epoch(const struct hfx_access *a, uint32_t scanout)
{
    return scanout < HXFR_MAX_SCANOUTS ? a->epoch[scanout] : 0;
}

/* Compares in time that does not depend on where the first difference is. */
static bool same_text(const char *x, const char *y)
{
    size_t n = strlen(x);
    if (n != strlen(y))
        return false;
    unsigned diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)x[i] ^ (unsigned char)y[i];
    return diff == 0;
}

static void deny(struct hfx_access_check *out, const char *why)
{
    out->grant = HFX_GRANT_NONE;
    out->why = why;
}

void hfx_access_check(const struct hfx_access *a, const char *token, struct hfx_access_check *out)
{
    memset(out, 0, sizeof *out);
    char expect[HFX_TOKEN_SIZE];
    if (strncmp(token, "hfx1.c.", 7) == 0) {
        hfx_access_control_token(a, expect);
        if (same_text(token, expect))
            out->grant = HFX_GRANT_CONTROL;
        else
            deny(out, "the token is not valid for this exporter (wrong signature)");
        return;
    }
    unsigned scanout;
    uint64_t epoch;
    int used = 0;
    if (strncmp(token, "hfx1.h", 6) != 0 ||
        sscanf(token + 6, "%2u.%16" SCNx64 ".%n", &scanout, &epoch, &used) != 2 || !used ||
        scanout >= HXFR_MAX_SCANOUTS) {
        deny(out, "the token is malformed");
        return;
    }
    head_token(a, scanout, epoch, expect);
    if (!same_text(token, expect)) {
        deny(out, "the token is not valid for this exporter (wrong signature)");
        return;
    }
    if (epoch != a->epoch[scanout]) {
        deny(out, "the token was revoked (or minted by an earlier run of the exporter)");
        return;
    }
    out->grant = HFX_GRANT_HEAD;
    out->scanout = scanout;
    out->epoch = epoch;
}
