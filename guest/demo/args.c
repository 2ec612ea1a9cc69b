#include "args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "say.h"

static const struct arg_spec *find(const struct arg_spec *specs, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(specs[i].name, name) == 0)
            return &specs[i];
    return NULL;
}

static int store(const struct arg_spec *s, const char *v, const char *cmd)
{
    char *end;
    errno = 0;
    switch (s->kind) {
    case ARG_INT: {
        long x = strtol(v, &end, 0);
        if (errno || *end || end == v || x < s->min || x > s->max) {
            guest_warn("%s: %s wants a number in %ld..%ld, not '%s'", cmd, s->name, s->min,
                       s->max, v);
            return -1;
        }
        *(long *)s->dest = x;
        return 0;
    }
    case ARG_DOUBLE: {
        double x = strtod(v, &end);
        if (errno || *end || end == v || x < 0) {
            guest_warn("%s: %s wants a number >= 0, not '%s'", cmd, s->name, v);
            return -1;
        }
        *(double *)s->dest = x;
        return 0;
    }
    case ARG_STR:
        *(const char **)s->dest = v;
        return 0;
    case ARG_FLAG:
        break;
    }
    return -1;
}

int args_parse(int argc, char **argv, int first, const struct arg_spec *specs, int nspecs,
               const char *cmd)
{
    for (int i = first; i < argc; i++) {
        const struct arg_spec *s = find(specs, nspecs, argv[i]);
        if (s == NULL) {
            guest_warn("%s: unknown option '%s'", cmd, argv[i]);
            return -1;
        }
        if (s->kind == ARG_FLAG) {
            *(bool *)s->dest = true;
            continue;
        }
        if (i + 1 >= argc) {
            guest_warn("%s: %s wants a value", cmd, argv[i]);
            return -1;
        }
        if (store(s, argv[++i], cmd) < 0)
            return -1;
    }
    return 0;
}
