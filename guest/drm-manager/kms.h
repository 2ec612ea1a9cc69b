/* The manager's side of KMS: the DRM master that hands out leases. It only
 * reads state and creates and revokes leases: it never modesets and never
 * makes the kernel probe a connector, both of which take locks a running
 * compositor (a lessee) may hold for a long time. */
#ifndef HFX_DRM_KMS_H
#define HFX_DRM_KMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KMS_MAX_HEADS 16
#define KMS_MAX_LEASE_OBJECTS 4 /* connector, CRTC, primary and cursor plane */

struct kms_head {
    uint32_t connector_id;
    char name[32]; /* "Virtual-2" */
};

struct kms {
    int fd;
    int nheads; /* head N is the N-th connector the kernel lists */
    struct kms_head heads[KMS_MAX_HEADS];
};

/* What a lease holds, so other leases can keep out of it. */
struct kms_lease {
    uint32_t lessee_id;
    uint32_t objects[KMS_MAX_LEASE_OBJECTS];
    int nobjects;
};

/* Opens the card and becomes its master (failing if another process is). */
int kms_open(struct kms *k, const char *card);
/* The same on an fd that is master already (the test guest's demo, which
 * draws on the other heads through it): turns on universal planes and
 * atomic for it and lists the heads. -1 after saying why; fd stays open. */
int kms_adopt(struct kms *k, int fd);
void kms_close(struct kms *k);

/* Whether head's connector is connected with a w x h mode, as the kernel
 * last saw it (no probe). why says what it sees otherwise. */
bool kms_head_ready(struct kms *k, int head, uint32_t w, uint32_t h, char *why, size_t whylen);

/* Leases head's connector, a CRTC it can drive and that CRTC's primary and
 * cursor planes, none of them held by the `nbusy` leases in busy. Returns the
 * lessee's fd (to be passed on, then closed), or -1 with err set. */
int kms_lease(struct kms *k, int head, const struct kms_lease *busy, int nbusy,
              struct kms_lease *out, char *err, size_t errlen);
/* Ends a lease; one that is already gone (its last fd closed) is fine. */
int kms_revoke(struct kms *k, const struct kms_lease *l, char *err, size_t errlen);

#endif
