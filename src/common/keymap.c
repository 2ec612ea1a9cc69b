#include "common/keymap.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* evdev -> qnum, generated from keycodemapdb's data/keymaps.csv (QEMU's
 * subprojects/keycodemapdb; columns "Linux Keycode" and "AT set1 keycode")
 * by keymap-gen's rule: a set-1 code 0xe0XX becomes 0x80 | XX (so evdev 1..83
 * stay as they are, 84..86 do not follow the evdev order, and KEY_SYSRQ is
 * 0x54 as in QEMU). tests/test_keymap.c checks
 * it against keymaps.csv when QEMU's source is at hand. */
static const uint8_t evdev_qnum[] = {
    [1] = 0x01, [2] = 0x02, [3] = 0x03, [4] = 0x04, [5] = 0x05, [6] = 0x06, [7] = 0x07, [8] = 0x08,
    [9] = 0x09, [10] = 0x0a, [11] = 0x0b, [12] = 0x0c, [13] = 0x0d, [14] = 0x0e, [15] = 0x0f,
    [16] = 0x10, [17] = 0x11, [18] = 0x12, [19] = 0x13, [20] = 0x14, [21] = 0x15, [22] = 0x16,
    [23] = 0x17, [24] = 0x18, [25] = 0x19, [26] = 0x1a, [27] = 0x1b, [28] = 0x1c, [29] = 0x1d,
    [30] = 0x1e, [31] = 0x1f, [32] = 0x20, [33] = 0x21, [34] = 0x22, [35] = 0x23, [36] = 0x24,
    [37] = 0x25, [38] = 0x26, [39] = 0x27, [40] = 0x28, [41] = 0x29, [42] = 0x2a, [43] = 0x2b,
    [44] = 0x2c, [45] = 0x2d, [46] = 0x2e, [47] = 0x2f, [48] = 0x30, [49] = 0x31, [50] = 0x32,
    [51] = 0x33, [52] = 0x34, [53] = 0x35, [54] = 0x36, [55] = 0x37, [56] = 0x38, [57] = 0x39,
    [58] = 0x3a, [59] = 0x3b, [60] = 0x3c, [61] = 0x3d, [62] = 0x3e, [63] = 0x3f, [64] = 0x40,
    [65] = 0x41, [66] = 0x42, [67] = 0x43, [68] = 0x44, [69] = 0x45, [70] = 0x46, [71] = 0x47,
    [72] = 0x48, [73] = 0x49, [74] = 0x4a, [75] = 0x4b, [76] = 0x4c, [77] = 0x4d, [78] = 0x4e,
    [79] = 0x4f, [80] = 0x50, [81] = 0x51, [82] = 0x52, [83] = 0x53, [84] = 0x54, [85] = 0x76,
    [86] = 0x56, [87] = 0x57, [88] = 0x58, [89] = 0x73, [90] = 0x78, [91] = 0x77, [92] = 0x79,
    [93] = 0x70, [94] = 0x7b, [95] = 0x5c, [96] = 0x9c, [97] = 0x9d, [98] = 0xb5, [99] = 0x54,
    [100] = 0xb8, [101] = 0x5b, [102] = 0xc7, [103] = 0xc8, [104] = 0xc9, [105] = 0xcb,
    [106] = 0xcd, [107] = 0xcf, [108] = 0xd0, [109] = 0xd1, [110] = 0xd2, [111] = 0xd3,
    [112] = 0xef, [113] = 0xa0, [114] = 0xae, [115] = 0xb0, [116] = 0xde, [117] = 0x59,
    [118] = 0xce, [119] = 0xc6, [120] = 0x8b, [121] = 0x7e, [122] = 0x72, [123] = 0x71,
    [124] = 0x7d, [125] = 0xdb, [126] = 0xdc, [127] = 0xdd, [128] = 0xe8, [129] = 0x85,
    [130] = 0x86, [131] = 0x87, [132] = 0x8c, [133] = 0xf8, [134] = 0x64, [135] = 0x65,
    [136] = 0xc1, [137] = 0xbc, [138] = 0xf5, [139] = 0x9e, [140] = 0xa1, [141] = 0x66,
    [142] = 0xdf, [143] = 0xe3, [144] = 0x67, [145] = 0x68, [146] = 0x69, [147] = 0x93,
    [148] = 0x9f, [149] = 0x97, [150] = 0x82, [151] = 0x6a, [152] = 0x92, [153] = 0x6b,
    [154] = 0xa6, [155] = 0xec, [156] = 0xe6, [157] = 0xeb, [158] = 0xea, [159] = 0xe9,
    [160] = 0xa3, [161] = 0x6c, [162] = 0xfd, [163] = 0x99, [164] = 0xa2, [165] = 0x90,
    [166] = 0xa4, [167] = 0xb1, [168] = 0x98, [169] = 0x63, [171] = 0x81, [172] = 0xb2,
    [173] = 0xe7, [176] = 0x88, [177] = 0x75, [178] = 0x8f, [179] = 0xf6, [180] = 0xfb,
    [181] = 0x89, [182] = 0x8a, [183] = 0x5d, [184] = 0x5e, [185] = 0x5f, [186] = 0x55,
    [187] = 0x83, [188] = 0xf7, [189] = 0x84, [190] = 0x5a, [191] = 0x74, [192] = 0xf9,
    [193] = 0x6d, [194] = 0x6f, [195] = 0x95, [196] = 0x96, [197] = 0x9a, [198] = 0x9b,
    [199] = 0xa7, [200] = 0xa8, [201] = 0xa9, [202] = 0xab, [203] = 0xac, [204] = 0xad,
    [205] = 0xa5, [206] = 0xaf, [207] = 0xb3, [208] = 0xb4, [209] = 0xb6, [210] = 0xb9,
    [211] = 0xba, [212] = 0xbb, [213] = 0xbd, [214] = 0xbe, [215] = 0xbf, [216] = 0xc0,
    [217] = 0xe5, [218] = 0xc2, [219] = 0xc3, [220] = 0xc4, [221] = 0xc5, [222] = 0x94,
    [223] = 0xca, [224] = 0xcc, [225] = 0xd4, [226] = 0xed, [227] = 0xd6, [228] = 0xd7,
    [229] = 0xd8, [230] = 0xd9, [231] = 0xda, [232] = 0xe4, [233] = 0x8e, [234] = 0xd5,
    [235] = 0xf0, [236] = 0xf1, [237] = 0xf2, [238] = 0xf3, [239] = 0xf4,
};

uint32_t hfx_keymap_evdev_to_qnum(uint32_t evdev)
{
    return evdev < sizeof evdev_qnum ? evdev_qnum[evdev] : 0;
}

/* US layout: the characters on evdev codes first..first+strlen-1, without
 * and with Shift. */
static const struct {
    uint8_t first;
    const char *plain, *shifted;
} rows[] = {
    {2, "1234567890-=", "!@#$%^&*()_+"},
    {16, "qwertyuiop[]", "QWERTYUIOP{}"},
    {30, "asdfghjkl;'`", "ASDFGHJKL:\"~"},
    {43, "\\zxcvbnm,./", "|ZXCVBNM<>?"},
    {57, " ", " "},
    {28, "\n", "\n"},
    {15, "\t", "\t"},
};

bool hfx_keymap_ascii(char c, uint32_t *evdev, bool *shift)
{
    if (!c)
        return false;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *p = strchr(rows[i].plain, c), *s = strchr(rows[i].shifted, c);
        if (p || s) {
            *evdev = rows[i].first + (uint32_t)(p ? p - rows[i].plain : s - rows[i].shifted);
            *shift = !p;
            return true;
        }
    }
    return false;
}

static const struct {
    const char *name;
    uint16_t code;
} names[] = {
    {"esc", 1}, {"backspace", 14}, {"tab", 15}, {"enter", 28}, {"leftctrl", 29}, {"ctrl", 29},
    {"leftshift", 42}, {"shift", 42}, {"rightshift", 54}, {"leftalt", 56}, {"alt", 56},
    {"space", 57}, {"capslock", 58}, {"rightctrl", 97}, {"rightalt", 100}, {"home", 102},
    {"up", 103}, {"pageup", 104}, {"left", 105}, {"right", 106}, {"end", 107}, {"down", 108},
    {"pagedown", 109}, {"insert", 110}, {"delete", 111}, {"leftmeta", 125}, {"meta", 125},
};

uint32_t hfx_keymap_parse(const char *name)
{
    char *end;
    unsigned long n = strtoul(name, &end, 0);
    if (*name >= '0' && *name <= '9' && !*end)
        return n > 0 && n <= 0x2ff ? (uint32_t)n : 0;
    uint32_t code;
    bool shift;
    if (name[0] && !name[1] && hfx_keymap_ascii(name[0], &code, &shift))
        return code;
    if (!strncasecmp(name, "KEY_", 4))
        name += 4;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(name, names[i].name))
            return names[i].code;
    /* f1..f10 are 59..68, f11 and f12 87 and 88 */
    if ((name[0] == 'f' || name[0] == 'F') && name[1] >= '1' && name[1] <= '9') {
        n = strtoul(name + 1, &end, 10);
        if (!*end && n >= 1 && n <= 12)
            return n <= 10 ? 58 + (uint32_t)n : 76 + (uint32_t)n;
    }
    return 0;
}
