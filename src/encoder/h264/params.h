/* What the P-slice writer needs to know of the stream x264 started: the
 * fields of its SPS and PPS that shape a slice header (ITU-T H.264 7.3.2.1,
 * 7.3.2.2), and where x264's last picture left frame_num and the picture
 * order count (7.3.3). */
#ifndef HFX_H264_PARAMS_H
#define HFX_H264_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct h264_params {
    uint32_t sps_id, pps_id;
    uint32_t level_idc;             /* bounds the vertical motion vector range (table A-1) */
    uint32_t log2_max_frame_num;
    uint32_t poc_type;              /* 0 or 2 */
    uint32_t log2_max_poc_lsb;      /* poc_type 0 */
    uint32_t mb_width, mb_height;
    uint32_t num_ref_idx_l0_default;
    int pic_init_qp;
    int chroma_qp_offset[2];        /* Cb, Cr */
    bool bottom_field_pic_order_in_frame_present;
    bool redundant_pic_cnt_present;
    bool constrained_intra_pred;
};

/* Where the last picture of x264's left the numbering. */
struct h264_slice_pos {
    uint32_t frame_num;
    uint32_t poc_lsb;
};

/* Fills p from the SPS and PPS in an Annex B access unit (x264's IDR).
 * Returns 0, or -1 with err filled when the stream uses something the
 * writer cannot continue (CABAC, weighted prediction, interlace, scaling
 * matrices, 8x8 transforms, a chroma format but 4:2:0, slice groups,
 * no deblocking control, POC type 1). */
int h264_params_parse(struct h264_params *p, const uint8_t *au, size_t size, char *err,
                      size_t errlen);
/* Reads frame_num and pic_order_cnt_lsb from the first slice of an access
 * unit coded with p; -1 if there is none. */
int h264_slice_pos_parse(const struct h264_params *p, const uint8_t *au, size_t size,
                         struct h264_slice_pos *out);

#endif
