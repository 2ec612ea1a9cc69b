#include "encoder/h264/cavlc.h"

#include <stdlib.h>

#include "encoder/h264/cavlc_tables.h"

static void put_vlc(struct h264_bits *b, struct h264_vlc c)
{
    h264_put(b, c.code, c.len);
}

/* One level other than a trailing one (9.2.2.1), given the suffix length
 * in force; returns the suffix length for the next level. */
static int put_level(struct h264_bits *b, int level, int level_code, int suffix_len)
{
    if (suffix_len == 0) {
        if (level_code < 14) {
            h264_put(b, 1, level_code + 1);
        } else if (level_code < 30) {
            h264_put(b, 1, 15);
            h264_put(b, (uint32_t)(level_code - 14), 4);
        } else {
            h264_put(b, 1, 16);
            h264_put(b, (uint32_t)(level_code - 30), 12);
        }
    } else if (level_code < (15 << suffix_len)) {
        h264_put(b, 1, (level_code >> suffix_len) + 1);
        h264_put(b, (uint32_t)level_code & ((1u << suffix_len) - 1), suffix_len);
    } else {
        h264_put(b, 1, 16);
        h264_put(b, (uint32_t)(level_code - (15 << suffix_len)), 12);
    }
    if (suffix_len == 0)
        suffix_len = 1;
    if (abs(level) > (3 << (suffix_len - 1)) && suffix_len < 6)
        suffix_len++;
    return suffix_len;
}

int h264_write_residual(struct h264_bits *b, const int16_t *levels, int n, int nc)
{
    /* The nonzero levels from the highest frequency down, and the zeros
     * that run below each. */
    int16_t lv[16];
    uint8_t run[16];
    int total = 0, zeros = 0, last = -1;
    for (int i = n - 1; i >= 0; i--) {
        if (levels[i]) {
            if (last < 0)
                last = i;
            if (total > 0)
                run[total - 1] = (uint8_t)zeros;
            lv[total++] = levels[i];
            zeros = 0;
        } else if (last >= 0) {
            zeros++;
        }
    }
    if (total > 0)
        run[total - 1] = (uint8_t)zeros;

    int t1 = 0;
    while (t1 < total && t1 < 3 && abs(lv[t1]) == 1)
        t1++;

    if (nc < 0)
        put_vlc(b, h264_coeff_token_chroma_dc[t1][total]);
    else
        put_vlc(b, h264_coeff_token[nc < 2 ? 0 : nc < 4 ? 1 : nc < 8 ? 2 : 3][t1][total]);
    if (total == 0)
        return 0;

    for (int i = 0; i < t1; i++)
        h264_put(b, lv[i] < 0, 1);
    int suffix_len = total > 10 && t1 < 3 ? 1 : 0;
    for (int i = t1; i < total; i++) {
        int code = lv[i] > 0 ? 2 * lv[i] - 2 : -2 * lv[i] - 1;
        if (i == t1 && t1 < 3)
            code -= 2;
        suffix_len = put_level(b, lv[i], code, suffix_len);
    }

    int total_zeros = last + 1 - total;
    if (total < n) {
        if (nc < 0)
            put_vlc(b, h264_total_zeros_chroma_dc[total - 1][total_zeros]);
        else
            put_vlc(b, h264_total_zeros[total - 1][total_zeros]);
    }
    int zeros_left = total_zeros;
    for (int i = 0; i < total - 1 && zeros_left > 0; i++) {
        put_vlc(b, h264_run_before[(zeros_left < 7 ? zeros_left : 7) - 1][run[i]]);
        zeros_left -= run[i];
    }
    return total;
}
