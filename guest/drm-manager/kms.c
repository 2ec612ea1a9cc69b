#include "kms.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "log.h"

int kms_open(struct kms *k, const char *card)
{
    memset(k, 0, sizeof *k);
    k->fd = -1;
    int fd = open(card, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        mgr_warn("cannot open %s: %s", card, strerror(errno));
        return -1;
    }
    /* The first opener is master already; anyone else's master would make
     * our leases fail, so say so now rather than at the first lease. */
    if (drmSetMaster(fd) != 0)
        mgr_warn("cannot become DRM master of %s (another display server?): %s", card,
                 strerror(errno));
    else if (kms_adopt(k, fd) == 0)
        return 0;
    close(fd);
    k->fd = -1;
    return -1;
}

int kms_adopt(struct kms *k, int fd)
{
    memset(k, 0, sizeof *k);
    k->fd = fd;
    /* Without these the kernel hides the primary and cursor planes, and a
     * lessee could not be handed them. */
    if (drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1) != 0 ||
        drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1) != 0) {
        mgr_warn("no universal planes or atomic: %s", strerror(errno));
        return -1;
    }
    drmModeRes *res = drmModeGetResources(fd);
    if (res == NULL) {
        mgr_warn("drmModeGetResources: %s", strerror(errno));
        return -1;
    }
    k->nheads = res->count_connectors < KMS_MAX_HEADS ? res->count_connectors : KMS_MAX_HEADS;
    for (int i = 0; i < k->nheads; i++) {
        struct kms_head *h = &k->heads[i];
        h->connector_id = res->connectors[i];
        drmModeConnector *c = drmModeGetConnectorCurrent(fd, h->connector_id);
        const char *type = c ? drmModeGetConnectorTypeName(c->connector_type) : NULL;
        snprintf(h->name, sizeof h->name, "%s-%u", type ? type : "Unknown",
                 c ? c->connector_type_id : 0);
        /* virtio-gpu creates one connector per scanout in scanout order,
         * named Virtual-<scanout+1>: the list position is the scanout id. */
        char expect[32];
        snprintf(expect, sizeof expect, "Virtual-%d", i + 1);
        if (strcmp(h->name, expect) != 0)
            mgr_warn("connector %d is %s, not %s: is this virtio-gpu?", i, h->name, expect);
        drmModeFreeConnector(c);
    }
    drmModeFreeResources(res);
    return 0;
}

void kms_close(struct kms *k)
{
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
}

bool kms_head_ready(struct kms *k, int head, uint32_t w, uint32_t h, char *why, size_t whylen)
{
    /* ...Current: the state the last hotplug left, without a probe. */
    drmModeConnector *c = drmModeGetConnectorCurrent(k->fd, k->heads[head].connector_id);
    if (c == NULL) {
        snprintf(why, whylen, "cannot read it: %s", strerror(errno));
        return false;
    }
    bool ok = false;
    if (c->connection != DRM_MODE_CONNECTED) {
        snprintf(why, whylen, "disconnected");
    } else if (c->count_modes == 0) {
        snprintf(why, whylen, "connected, no modes");
    } else {
        for (int i = 0; i < c->count_modes && !ok; i++)
            ok = c->modes[i].hdisplay == w && c->modes[i].vdisplay == h;
        if (!ok)
            snprintf(why, whylen, "connected at %ux%u", c->modes[0].hdisplay,
                     c->modes[0].vdisplay);
    }
    drmModeFreeConnector(c);
    return ok;
}

static bool busy_object(const struct kms_lease *busy, int nbusy, uint32_t id)
{
    for (int l = 0; l < nbusy; l++)
        for (int o = 0; o < busy[l].nobjects; o++)
            if (busy[l].objects[o] == id)
                return true;
    return false;
}

/* A CRTC one of the connector's encoders can drive, free of other leases;
 * the one the encoder drives now first. Sets *index to its position in the
 * resources list (the bit in possible_crtcs). */
static uint32_t pick_crtc(struct kms *k, uint32_t connector, const struct kms_lease *busy,
                          int nbusy, int *index)
{
    drmModeRes *res = drmModeGetResources(k->fd);
    drmModeConnector *c = res ? drmModeGetConnectorCurrent(k->fd, connector) : NULL;
    uint32_t found = 0;
    for (int e = 0; c != NULL && e < c->count_encoders && !found; e++) {
        drmModeEncoder *enc = drmModeGetEncoder(k->fd, c->encoders[e]);
        if (enc == NULL)
            continue;
        for (int pass = 0; pass < 2 && !found; pass++)
            for (int i = 0; i < res->count_crtcs && !found; i++) {
                uint32_t id = res->crtcs[i];
                bool fits = pass == 0 ? id == enc->crtc_id : (enc->possible_crtcs >> i & 1);
                if (fits && !busy_object(busy, nbusy, id)) {
                    found = id;
                    *index = i;
                }
            }
        drmModeFreeEncoder(enc);
    }
    drmModeFreeConnector(c);
    drmModeFreeResources(res);
    return found;
}

static uint64_t plane_type(int fd, uint32_t plane)
{
    uint64_t type = UINT64_MAX;
    drmModeObjectProperties *props = drmModeObjectGetProperties(fd, plane, DRM_MODE_OBJECT_PLANE);
    for (uint32_t i = 0; props != NULL && i < props->count_props; i++) {
        drmModePropertyRes *p = drmModeGetProperty(fd, props->props[i]);
        if (p != NULL && strcmp(p->name, "type") == 0)
            type = props->prop_values[i];
        drmModeFreeProperty(p);
    }
    drmModeFreeObjectProperties(props);
    return type;
}

/* The plane of this type that can sit on the CRTC at crtc_index and that no
 * other lease holds; the one on that CRTC now first. 0 if none. */
static uint32_t pick_plane(struct kms *k, uint64_t type, uint32_t crtc, int crtc_index,
                           const struct kms_lease *busy, int nbusy)
{
    drmModePlaneRes *pr = drmModeGetPlaneResources(k->fd);
    uint32_t found = 0;
    for (int pass = 0; pass < 2 && !found; pass++)
        for (uint32_t i = 0; pr != NULL && i < pr->count_planes && !found; i++) {
            drmModePlane *p = drmModeGetPlane(k->fd, pr->planes[i]);
            if (p != NULL && (p->possible_crtcs >> crtc_index & 1) &&
                (pass == 1 || p->crtc_id == crtc) && !busy_object(busy, nbusy, p->plane_id) &&
                plane_type(k->fd, p->plane_id) == type)
                found = p->plane_id;
            drmModeFreePlane(p);
        }
    drmModeFreePlaneResources(pr);
    return found;
}

int kms_lease(struct kms *k, int head, const struct kms_lease *busy, int nbusy,
              struct kms_lease *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    uint32_t connector = k->heads[head].connector_id;
    int ci = -1;
    uint32_t crtc = pick_crtc(k, connector, busy, nbusy, &ci);
    if (!crtc) {
        snprintf(err, errlen, "no free CRTC for %s", k->heads[head].name);
        return -1;
    }
    uint32_t primary = pick_plane(k, DRM_PLANE_TYPE_PRIMARY, crtc, ci, busy, nbusy);
    if (!primary) {
        snprintf(err, errlen, "no free primary plane for CRTC %u", crtc);
        return -1;
    }
    out->objects[out->nobjects++] = connector;
    out->objects[out->nobjects++] = crtc;
    out->objects[out->nobjects++] = primary;
    /* A CRTC without a cursor plane still makes a desktop. */
    uint32_t cursor = pick_plane(k, DRM_PLANE_TYPE_CURSOR, crtc, ci, busy, nbusy);
    if (cursor)
        out->objects[out->nobjects++] = cursor;
    int fd = drmModeCreateLease(k->fd, out->objects, out->nobjects, O_CLOEXEC, &out->lessee_id);
    if (fd < 0) {
        snprintf(err, errlen, "drmModeCreateLease %s: %s", k->heads[head].name, strerror(-fd));
        out->nobjects = 0;
        return -1;
    }
    return fd;
}

int kms_revoke(struct kms *k, const struct kms_lease *l, char *err, size_t errlen)
{
    int r = drmModeRevokeLease(k->fd, l->lessee_id);
    /* ENOENT: the lessee closed its last fd, which ended the lease. */
    if (r != 0 && r != -ENOENT) {
        snprintf(err, errlen, "drmModeRevokeLease %u: %s", l->lessee_id, strerror(-r));
        return -1;
    }
    return 0;
}
