/* Command-line options of the demo's subcommands: "--name value" pairs
 * (and bare flags) matched against a table. */
#ifndef HFX_GUEST_ARGS_H
#define HFX_GUEST_ARGS_H

#include <stdbool.h>

enum arg_kind {
    ARG_INT,    /* long, within [min, max] */
    ARG_DOUBLE, /* double, >= 0 */
    ARG_STR,    /* const char *, points into argv */
    ARG_FLAG,   /* bool set to true, no value */
};

struct arg_spec {
    const char *name; /* "--fps" */
    enum arg_kind kind;
    void *dest;
    long min, max;
};

/* Parses argv[first..argc). Returns 0, or -1 after saying what is wrong. */
int args_parse(int argc, char **argv, int first, const struct arg_spec *specs, int nspecs,
               const char *cmd);

#endif
