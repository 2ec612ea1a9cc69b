/* src/common/keymap.c: the evdev -> QEMU key number table against
 * keycodemapdb's keymaps.csv (QEMU's source in ~/.cache/hfx-qemu, or
 * HFX_KEYMAPS_CSV; the comparison is skipped without it), and the names
 * and characters users type. */
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/keymap.h"

/* Field i (0-based) of a CSV line without quoted fields. */
static const char *field(const char *line, int i, char *out, size_t outlen)
{
    for (; i > 0; i--) {
        line = strchr(line, ',');
        if (!line)
            return NULL;
        line++;
    }
    size_t n = strcspn(line, ",\n");
    if (n >= outlen)
        return NULL;
    memcpy(out, line, n);
    out[n] = 0;
    return out;
}

static int against_csv(void)
{
    const char *path = getenv("HFX_KEYMAPS_CSV");
    glob_t g = {0};
    char pattern[512];
    if (!path) {
        snprintf(pattern, sizeof pattern,
                 "%s/.cache/hfx-qemu/src-*/qemu-*/subprojects/keycodemapdb/data/keymaps.csv",
                 getenv("HOME") ? getenv("HOME") : "/root");
        if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc)
            path = g.gl_pathv[0];
    }
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) {
        fprintf(stderr, "keymaps.csv not found: table not compared\n");
        globfree(&g);
        return 0;
    }
    uint8_t want[0x300] = {0};
    char line[1024], ev[32], set1[32];
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '"' || !field(line, 1, ev, sizeof ev) || !field(line, 4, set1, sizeof set1) ||
            !ev[0] || !set1[0])
            continue;
        unsigned long e = strtoul(ev, NULL, 0), s = strtoul(set1, NULL, 0);
        if (e >= sizeof want)
            continue;
        if (s < 0x80)
            want[e] = (uint8_t)s;
        else if (s >= 0xe000 && s <= 0xe07f)
            want[e] = (uint8_t)(0x80 | (s & 0x7f));
        rows++;
    }
    fclose(f);
    fprintf(stderr, "compared with %s (%d rows)\n", path, rows);
    globfree(&g);
    CHECK(rows > 200, "%d rows", rows);
    for (uint32_t e = 0; e < sizeof want; e++)
        CHECK(hfx_keymap_evdev_to_qnum(e) == want[e], "evdev %u: 0x%x, keymaps.csv 0x%x", e,
              hfx_keymap_evdev_to_qnum(e), want[e]);
    return 1;
}

int main(void)
{
    against_csv();
    /* Without the CSV too: E0 keys, 84..86, out of range. */
    CHECK(hfx_keymap_evdev_to_qnum(30) == 0x1e, "A");
    CHECK(hfx_keymap_evdev_to_qnum(86) == 0x56, "102ND");
    CHECK(hfx_keymap_evdev_to_qnum(85) == 0x76, "ZENKAKUHANKAKU");
    CHECK(hfx_keymap_evdev_to_qnum(96) == 0x9c, "KPENTER");
    CHECK(hfx_keymap_evdev_to_qnum(103) == 0xc8, "UP");
    CHECK(hfx_keymap_evdev_to_qnum(125) == 0xdb, "LEFTMETA");
    CHECK(hfx_keymap_evdev_to_qnum(119) == 0xc6, "PAUSE as QEMU numbers it");
    CHECK(hfx_keymap_evdev_to_qnum(99) == 0x54, "SYSRQ");
    CHECK(hfx_keymap_evdev_to_qnum(0x2ff) == 0 && hfx_keymap_evdev_to_qnum(1u << 30) == 0, "range");

    uint32_t code;
    bool shift;
    CHECK(hfx_keymap_ascii('a', &code, &shift) && code == 30 && !shift, "a");
    CHECK(hfx_keymap_ascii('A', &code, &shift) && code == 30 && shift, "A");
    CHECK(hfx_keymap_ascii('?', &code, &shift) && code == 53 && shift, "?");
    CHECK(hfx_keymap_ascii('0', &code, &shift) && code == 11 && !shift, "0");
    CHECK(hfx_keymap_ascii(' ', &code, &shift) && code == 57, "space");
    CHECK(hfx_keymap_ascii('\\', &code, &shift) && code == 43 && !shift, "backslash");
    CHECK(!hfx_keymap_ascii('\x01', &code, &shift) && !hfx_keymap_ascii(0, &code, &shift), "none");

    CHECK(hfx_keymap_parse("30") == 30, "number");
    CHECK(hfx_keymap_parse("1") == 1, "a number, not the character");
    CHECK(hfx_keymap_parse("a") == 30, "character");
    CHECK(hfx_keymap_parse("KEY_ENTER") == 28 && hfx_keymap_parse("enter") == 28, "enter");
    CHECK(hfx_keymap_parse("f1") == 59 && hfx_keymap_parse("F12") == 88, "f keys");
    CHECK(hfx_keymap_parse("nosuchkey") == 0 && hfx_keymap_parse("0") == 0 &&
              hfx_keymap_parse("768") == 0 && hfx_keymap_parse("") == 0,
          "unknown");
    return check_summary("keymap");
}
