#include "client/decode.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include <libavcodec/avcodec.h>

struct hfx_decoder {
    AVCodecContext *ctx;
    AVPacket *pkt;
    AVFrame *frame;
};

static struct hfx_decoder *open_decoder(bool strict)
{
    const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_H264);
    if (!codec)
        return NULL;
    struct hfx_decoder *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->ctx = avcodec_alloc_context3(codec);
    d->pkt = av_packet_alloc();
    d->frame = av_frame_alloc();
    if (!d->ctx || !d->pkt || !d->frame)
        goto fail;
    /* One thread and low delay: frame threading would hold pictures back,
     * and each access unit must come out as soon as it goes in. */
    d->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
    d->ctx->thread_count = 1;
    if (strict) {
        d->ctx->apply_cropping = 0;
        d->ctx->err_recognition |= AV_EF_EXPLODE | AV_EF_BITSTREAM | AV_EF_BUFFER;
    }
    if (avcodec_open2(d->ctx, codec, NULL) < 0)
        goto fail;
    return d;
fail:
    hfx_decoder_free(d);
    return NULL;
}

struct hfx_decoder *hfx_decoder_new(void)
{
    return open_decoder(false);
}

struct hfx_decoder *hfx_decoder_new_strict(void)
{
    return open_decoder(true);
}

void hfx_decoder_free(struct hfx_decoder *d)
{
    if (!d)
        return;
    av_frame_free(&d->frame);
    av_packet_free(&d->pkt);
    avcodec_free_context(&d->ctx);
    free(d);
}

int hfx_decoder_decode(struct hfx_decoder *d, const uint8_t *au, size_t size,
                       struct hfx_decoded *out)
{
    if (size > INT32_MAX)
        return -1;
    /* Not reference-counted, so libavcodec copies it into a padded buffer. */
    d->pkt->data = (uint8_t *)au;
    d->pkt->size = (int)size;
    int ret = avcodec_send_packet(d->ctx, d->pkt);
    av_packet_unref(d->pkt);
    if (ret < 0)
        return -1;
    ret = avcodec_receive_frame(d->ctx, d->frame);
    if (ret == AVERROR(EAGAIN))
        return 0;
    if (ret < 0)
        return -1;
    if (d->frame->format != AV_PIX_FMT_YUV420P && d->frame->format != AV_PIX_FMT_YUVJ420P)
        return -1;
    out->width = (uint32_t)d->frame->width;
    out->height = (uint32_t)d->frame->height;
    for (int i = 0; i < 3; i++) {
        out->plane[i] = d->frame->data[i];
        out->stride[i] = (uint32_t)d->frame->linesize[i];
    }
    return 1;
}

double hfx_psnr_y(const uint8_t *a, uint32_t stride_a, const uint8_t *b, uint32_t stride_b,
                  uint32_t width, uint32_t height)
{
    uint64_t sse = 0;
    for (uint32_t y = 0; y < height; y++) {
        const uint8_t *ra = a + (size_t)y * stride_a;
        const uint8_t *rb = b + (size_t)y * stride_b;
        for (uint32_t x = 0; x < width; x++) {
            int diff = ra[x] - rb[x];
            sse += (uint64_t)(diff * diff);
        }
    }
    if (sse == 0)
        return 99.0;
    double mse = (double)sse / ((double)width * height);
    return 10.0 * log10(255.0 * 255.0 / mse);
}
