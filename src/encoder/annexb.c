#include "encoder/annexb.h"

#include <stdlib.h>
#include <string.h>

#include "encoder/h264/bits.h"

static int reserve(struct hfx_annexb *b, size_t more)
{
    if (b->size + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->size + more)
        cap *= 2;
    uint8_t *data = realloc(b->data, cap);
    if (!data)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

int hfx_annexb_append(struct hfx_annexb *b, const uint8_t *nal, size_t len)
{
    static const uint8_t start_code[4] = {0, 0, 0, 1};
    size_t sc = len >= 3 && nal[2] == 1 ? 3 : 4;
    if (len < sc || reserve(b, 4 + len - sc) < 0)
        return -1;
    memcpy(b->data + b->size, start_code, 4);
    memcpy(b->data + b->size + 4, nal + sc, len - sc);
    b->size += 4 + len - sc;
    return 0;
}

int hfx_annexb_append_escaped(struct hfx_annexb *b, const uint8_t *head, size_t head_len,
                              const uint8_t *rbsp, size_t len)
{
    if (reserve(b, head_len + len + len / 2 + 1) < 0)
        return -1;
    memcpy(b->data + b->size, head, head_len);
    b->size += head_len;
    b->size += h264_escape(b->data + b->size, rbsp, len);
    return 0;
}

void hfx_annexb_free(struct hfx_annexb *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
