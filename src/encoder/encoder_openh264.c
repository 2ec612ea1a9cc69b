/* OpenH264 backend: camera real-time mode (screen-content mode measured
 * about 4x slower here), baseline, CAVLC, IDRs only on request. */
#include "encoder/encoder.h"
#include "encoder/annexb.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wels/codec_api.h>

struct hfx_encoder {
    ISVCEncoder *svc;
    uint32_t width, height;       /* coded size (visible rounded up to even) */
    uint32_t fps;
    struct hfx_annexb au;         /* the access unit returned by encode() */
    int64_t frames;
    bool initialized;
    char log_error[256];          /* OpenH264's first error, for open()'s message */
};

/* H.264 Table A-1: the smallest level whose frame size, macroblock rate and
 * bit rate cover the stream. */
static const struct {
    int idc;
    uint32_t max_mbps, max_fs, max_br_kbit;
} levels[] = {
    {10, 1485, 99, 64},          {11, 3000, 396, 192},        {12, 6000, 396, 384},
    {13, 11880, 396, 768},       {20, 11880, 396, 2000},      {21, 19800, 792, 4000},
    {22, 20250, 1620, 4000},     {30, 40500, 1620, 10000},    {31, 108000, 3600, 14000},
    {32, 216000, 5120, 20000},   {40, 245760, 8192, 20000},   {41, 245760, 8192, 50000},
    {42, 522240, 8704, 50000},   {50, 589824, 22080, 135000}, {51, 983040, 36864, 240000},
    {52, 2073600, 36864, 240000}, {60, 4177920, 139264, 240000},
    {61, 8355840, 139264, 480000}, {62, 16711680, 139264, 800000},
};

static int level_for(uint32_t mb_w, uint32_t mb_h, uint32_t fps, uint32_t bitrate)
{
    uint64_t fs = (uint64_t)mb_w * mb_h;
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        uint64_t max_side_sq = 8ull * levels[i].max_fs; /* A.3.1 h) and i) */
        if (fs <= levels[i].max_fs && fs * fps <= levels[i].max_mbps &&
            (uint64_t)mb_w * mb_w <= max_side_sq && (uint64_t)mb_h * mb_h <= max_side_sq &&
            bitrate <= levels[i].max_br_kbit * 1000ull)
            return levels[i].idc;
    }
    return LEVEL_UNKNOWN; /* beyond H.264: OpenH264 rejects it and says why */
}

static void trace_cb(void *ctx, int level, const char *msg)
{
    struct hfx_encoder *enc = ctx;
    /* Messages read "[OpenH264] this = 0x..., Error:<text>". */
    const char *text = strstr(msg, "Error:");
    text = text ? text + strlen("Error:") : msg;
    if (enc->initialized) {
        hfx_log(HFX_LOG_ERROR, "openh264: %.*s", (int)strcspn(text, "\n"), text);
    } else if (!enc->log_error[0]) {
        /* The first error is the cause; open() reports it. */
        snprintf(enc->log_error, sizeof(enc->log_error), "%s", text);
        enc->log_error[strcspn(enc->log_error, "\n")] = '\0';
    }
}

static void set_logging(struct hfx_encoder *enc)
{
    WelsTraceCallback cb = trace_cb;
    void *ctx = enc;
    int level = WELS_LOG_ERROR; /* its warnings are about settings chosen on purpose */
    (*enc->svc)->SetOption(enc->svc, ENCODER_OPTION_TRACE_CALLBACK, &cb);
    (*enc->svc)->SetOption(enc->svc, ENCODER_OPTION_TRACE_CALLBACK_CONTEXT, &ctx);
    (*enc->svc)->SetOption(enc->svc, ENCODER_OPTION_TRACE_LEVEL, &level);
}

static void fill_params(const struct hfx_encoder *enc, const struct hfx_encoder_params *p,
                        SEncParamExt *e)
{
    e->iUsageType = CAMERA_VIDEO_REAL_TIME;
    e->iPicWidth = (int)enc->width;
    e->iPicHeight = (int)enc->height;
    e->iTargetBitrate = (int)p->bitrate;
    e->iRCMode = RC_BITRATE_MODE;
    e->fMaxFrameRate = (float)p->fps;
    e->iTemporalLayerNum = 1;
    e->iSpatialLayerNum = 1;
    /* Skipping would break one frame in, one access unit out. The price:
     * OpenH264 then overshoots its rate on content it cannot compress
     * (measured: noise at 500 kbit/s comes out near 290 Mbit/s). */
    e->bEnableFrameSkip = false;
    e->uiIntraPeriod = 0;
    e->bEnableSceneChangeDetect = false;
    e->eSpsPpsIdStrategy = CONSTANT_ID;
    e->bPrefixNalAddingCtrl = false;
    e->bEnableSSEI = false;
    /* Besides being plain AVC, this makes ForceCodingIDR ignore the layer
     * argument that the C vtable's ForceIntraFrame never passes. */
    e->bSimulcastAVC = false;
    e->iEntropyCodingModeFlag = 0;
    e->iNumRefFrame = 1;
    e->bEnableLongTermReference = false;
    e->bEnableDenoise = false;
    e->iMultipleThreadIdc = (unsigned short)p->threads;

    SSpatialLayerConfig *layer = &e->sSpatialLayers[0];
    layer->iVideoWidth = (int)enc->width;
    layer->iVideoHeight = (int)enc->height;
    layer->fFrameRate = (float)p->fps;
    layer->iSpatialBitrate = (int)p->bitrate;
    layer->uiProfileIdc = PRO_BASELINE;
    layer->uiLevelIdc = (ELevelIdc)level_for((enc->width + 15) / 16, (enc->height + 15) / 16,
                                             p->fps, p->bitrate);
    /* Its threads work on slices: one slice per thread. */
    if (p->threads > 1) {
        layer->sSliceArgument.uiSliceMode = SM_FIXEDSLCNUM_SLICE;
        layer->sSliceArgument.uiSliceNum = (unsigned int)p->threads;
    }
}

static void oh_close(struct hfx_encoder *enc)
{
    if (!enc)
        return;
    if (enc->svc) {
        (*enc->svc)->Uninitialize(enc->svc);
        WelsDestroySVCEncoder(enc->svc);
    }
    hfx_annexb_free(&enc->au);
    free(enc);
}

static struct hfx_encoder *oh_open(const struct hfx_encoder_params *p, char *err, size_t errlen)
{
    if (p->fps == 0) {
        snprintf(err, errlen, "OpenH264 needs a frame rate above 0.");
        return NULL;
    }
    struct hfx_encoder *enc = calloc(1, sizeof(*enc));
    if (!enc || WelsCreateSVCEncoder(&enc->svc) != 0) {
        snprintf(err, errlen, "Could not create an OpenH264 encoder (out of memory?).");
        free(enc);
        return NULL;
    }
    hfx_encoder_coded_size(p, &enc->width, &enc->height);
    enc->fps = p->fps;
    set_logging(enc);

    SEncParamExt e;
    (*enc->svc)->GetDefaultParams(enc->svc, &e);
    fill_params(enc, p, &e);
    if ((*enc->svc)->InitializeExt(enc->svc, &e) != 0) {
        OpenH264Version v = WelsGetCodecVersion();
        snprintf(err, errlen, "OpenH264 %u.%u.%u cannot encode %ux%u at %u fps (%s); use "
                 "--encoder x264.", v.uMajor, v.uMinor, v.uRevision, p->width, p->height,
                 p->fps, enc->log_error[0] ? enc->log_error : "InitializeExt failed");
        oh_close(enc);
        return NULL;
    }
    enc->initialized = true;
    return enc;
}

/* Joins every layer's NALs (each already behind a start code of 3 or 4
 * bytes) into one access unit with 4-byte start codes. */
static int build_au(struct hfx_encoder *enc, const SFrameBSInfo *bs)
{
    enc->au.size = 0;
    for (int l = 0; l < bs->iLayerNum; l++) {
        const SLayerBSInfo *layer = &bs->sLayerInfo[l];
        const uint8_t *nal = layer->pBsBuf;
        for (int i = 0; i < layer->iNalCount; i++) {
            size_t len = (size_t)layer->pNalLengthInByte[i];
            if (hfx_annexb_append(&enc->au, nal, len) < 0)
                return -1;
            nal += len;
        }
    }
    return 0;
}

/* damage is unused: OpenH264 has no per-macroblock hint API, and its own
 * background detection finds the unchanged areas. */
static int oh_encode(struct hfx_encoder *enc, const struct hfx_picture *pic,
                     const struct hfx_mb_damage *damage, bool force_idr, struct hfx_au *out)
{
    if (force_idr && (*enc->svc)->ForceIntraFrame(enc->svc, true) != 0)
        return -1;
    SSourcePicture src = {
        .iColorFormat = videoFormatI420,
        .iPicWidth = (int)enc->width,
        .iPicHeight = (int)enc->height,
        .uiTimeStamp = enc->frames * 1000 / enc->fps,
    };
    for (int i = 0; i < 3; i++) {
        src.pData[i] = pic->plane[i];
        src.iStride[i] = (int)pic->stride[i];
    }
    SFrameBSInfo bs;
    memset(&bs, 0, sizeof(bs));
    if ((*enc->svc)->EncodeFrame(enc->svc, &src, &bs) != cmResultSuccess)
        return -1;
    /* With frame skipping off this does not happen; if it ever does there
     * is no access unit to return. */
    if (bs.eFrameType == videoFrameTypeSkip || bs.eFrameType == videoFrameTypeInvalid)
        return -1;
    enc->frames++;
    if (build_au(enc, &bs) < 0)
        return -1;
    out->data = enc->au.data;
    out->size = enc->au.size;
    out->keyframe = bs.eFrameType == videoFrameTypeIDR;
    return 0;
}

static int oh_set_bitrate(struct hfx_encoder *enc, uint32_t bitrate)
{
    SBitrateInfo info = {.iLayer = SPATIAL_LAYER_ALL, .iBitrate = (int)bitrate};
    return (*enc->svc)->SetOption(enc->svc, ENCODER_OPTION_BITRATE, &info) == 0 ? 0 : -1;
}

const struct hfx_encoder_ops hfx_encoder_openh264 = {
    .name = "openh264",
    .open = oh_open,
    .encode = oh_encode,
    .set_bitrate = oh_set_bitrate,
    .close = oh_close,
};
