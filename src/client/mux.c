#include "client/mux.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/mem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const AVRational ns_base = {1, 1000000000};

struct hfx_mux {
    AVFormatContext *oc;
    AVStream *st;
    /* Each frame is written when the next arrives: its duration is then
     * known, and the last one's comes from hfx_mux_close. */
    AVPacket *prev;
    int64_t prev_ns, prev_arrival; /* the held frame's place in the file, its arrival */
    /* pts_ns - origin_ns is a frame's place in the file. The first frame of
     * a subscription shows the picture as it was, with the pts of its last
     * change, which can be long before the subscription: it goes where it
     * arrived, and so does the one after it (the first change since);
     * reanchor counts those still to come. */
    int64_t origin_ns;
    int reanchor;
    char *path;
};

static int fail(char *err, size_t errlen, const char *what, int averr)
{
    char why[AV_ERROR_MAX_STRING_SIZE] = "";
    if (averr < 0)
        av_strerror(averr, why, sizeof why);
    snprintf(err, errlen, "%s%s%s", what, averr < 0 ? ": " : "", why);
    return -1;
}

struct hfx_mux *hfx_mux_open(const char *path, char *err, size_t errlen)
{
    struct hfx_mux *m = calloc(1, sizeof *m);
    char what[512];
    int r;
    if (!m || !(m->path = strdup(path)) || !(m->prev = av_packet_alloc())) {
        fail(err, errlen, "out of memory", 0);
        goto out;
    }
    if ((r = avformat_alloc_output_context2(&m->oc, NULL, NULL, path)) < 0) {
        snprintf(what, sizeof what, "%s: no container for that name (use .mp4 or .mkv)", path);
        fail(err, errlen, what, 0);
        goto out;
    }
    /* The file is created now, so a bad path fails before subscribing. */
    if ((r = avio_open(&m->oc->pb, path, AVIO_FLAG_WRITE)) < 0) {
        fail(err, errlen, path, r);
        goto out;
    }
    return m;
out:
    if (m && m->oc)
        avformat_free_context(m->oc);
    if (m) {
        av_packet_free(&m->prev);
        free(m->path);
    }
    free(m);
    return NULL;
}

/* The header needs the picture's size (the keyframe's SPS, read by
 * libavcodec's parser) and SPS/PPS as extradata (whatever precedes the first
 * slice; the muxers take the parameter sets out of it and turn the Annex B
 * access units into the length-prefixed form MP4 wants). */
static int start(struct hfx_mux *m, const AVPacket *key, char *err, size_t errlen)
{
    AVCodecParserContext *parser = av_parser_init(AV_CODEC_ID_H264);
    AVCodecContext *ctx = avcodec_alloc_context3(NULL);
    int w = 0, h = 0;
    if (parser && ctx) {
        uint8_t *o;
        int olen;
        parser->flags |= PARSER_FLAG_COMPLETE_FRAMES;
        av_parser_parse2(parser, ctx, &o, &olen, key->data, key->size, AV_NOPTS_VALUE,
                         AV_NOPTS_VALUE, 0);
        w = parser->width;
        h = parser->height;
    }
    av_parser_close(parser);
    avcodec_free_context(&ctx);
    if (w <= 0 || h <= 0)
        return fail(err, errlen, "the first keyframe's SPS gives no picture size", 0);
    size_t head = 0;
    for (size_t i = 0; i + 3 < (size_t)key->size; i++) {
        if (key->data[i] || key->data[i + 1] || key->data[i + 2] != 1)
            continue;
        int type = key->data[i + 3] & 0x1f;
        if (type >= 1 && type <= 5) {
            head = i > 0 && !key->data[i - 1] ? i - 1 : i;
            break;
        }
    }
    if (!head)
        return fail(err, errlen, "the first keyframe has no SPS/PPS before its slice", 0);
    if (!(m->st = avformat_new_stream(m->oc, NULL)))
        return fail(err, errlen, "out of memory", 0);
    AVCodecParameters *par = m->st->codecpar;
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_H264;
    par->width = w;
    par->height = h;
    if (!(par->extradata = av_mallocz(head + AV_INPUT_BUFFER_PADDING_SIZE)))
        return fail(err, errlen, "out of memory", 0);
    memcpy(par->extradata, key->data, head);
    par->extradata_size = (int)head;
    m->st->time_base = (AVRational){1, 90000}; /* a hint; the muxer may pick its own */
    int r = avformat_write_header(m->oc, NULL);
    return r < 0 ? fail(err, errlen, "writing the container's header", r) : 0;
}

/* Writes the held frame, shown until `until_ns` (on the exporter's clock,
 * relative to the first frame). */
static int flush_prev(struct hfx_mux *m, int64_t until_ns, char *err, size_t errlen)
{
    int64_t end = av_rescale_q(until_ns, ns_base, m->st->time_base);
    m->prev->duration = end > m->prev->pts ? end - m->prev->pts : 1;
    int r = av_interleaved_write_frame(m->oc, m->prev); /* takes the data */
    return r < 0 ? fail(err, errlen, "writing a frame into the container", r) : 0;
}

int hfx_mux_frame(struct hfx_mux *m, const struct hfx_client_frame *f, int64_t arrival_ns,
                  char *err, size_t errlen)
{
    if (!m->st && !f->keyframe)
        return 0;
    AVPacket *pkt = av_packet_alloc();
    if (!pkt || av_new_packet(pkt, (int)f->size) < 0) {
        av_packet_free(&pkt);
        return fail(err, errlen, "out of memory", 0);
    }
    memcpy(pkt->data, f->data, f->size);
    if (f->keyframe)
        pkt->flags |= AV_PKT_FLAG_KEY;
    if (!m->st && start(m, pkt, err, errlen) < 0) {
        av_packet_free(&pkt);
        return -1;
    }
    bool first = !m->prev->data; /* from the first frame on, prev holds one */
    if (first || f->resumed)
        m->reanchor = 2;
    if (m->reanchor > 0) {
        m->reanchor--;
        m->origin_ns = f->pts_ns - (first ? 0 : m->prev_ns + (arrival_ns - m->prev_arrival));
    }
    int64_t at = f->pts_ns - m->origin_ns;
    pkt->pts = av_rescale_q(at, ns_base, m->st->time_base);
    /* A clock that went back (a frame placed by its arrival, then one by its
     * pts) or two frames in one tick must still give increasing timestamps. */
    if (!first && pkt->pts <= m->prev->pts) {
        pkt->pts = m->prev->pts + 1;
        at = av_rescale_q(pkt->pts, m->st->time_base, ns_base);
    }
    pkt->dts = pkt->pts; /* no B-frames */
    int rc = 0;
    if (!first)
        rc = flush_prev(m, at, err, errlen);
    m->prev_ns = at;
    m->prev_arrival = arrival_ns;
    av_packet_unref(m->prev);
    av_packet_move_ref(m->prev, pkt);
    av_packet_free(&pkt);
    return rc;
}

int hfx_mux_close(struct hfx_mux *m, int64_t last_ns, char *err, size_t errlen)
{
    int rc = 0, r;
    if (m->st) {
        if (m->prev->data)
            rc = flush_prev(m, m->prev_ns + last_ns, err, errlen);
        if ((r = av_write_trailer(m->oc)) < 0 && rc == 0)
            rc = fail(err, errlen, "writing the container's trailer", r);
    }
    if ((r = avio_closep(&m->oc->pb)) < 0 && rc == 0)
        rc = fail(err, errlen, m->path, r);
    if (!m->st)
        unlink(m->path); /* no frame: an empty container would only mislead */
    avformat_free_context(m->oc);
    av_packet_free(&m->prev);
    free(m->path);
    free(m);
    return rc;
}
