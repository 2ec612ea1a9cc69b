/* The hfx command line: one file per subcommand, shared option helpers here. */
#ifndef HFX_CLI_H
#define HFX_CLI_H

#include <stdbool.h>
#include <stdint.h>

int cmd_serve(int argc, char **argv);
int cmd_sub(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Parsers that print what is wrong with the value and return -1. */
int cli_uint(const char *opt, const char *val, uint32_t min, uint32_t max, uint32_t *out);
int cli_size(const char *opt, const char *val, uint32_t *w, uint32_t *h);
int cli_format(const char *opt, const char *val, uint32_t *fourcc);

#define HFX_DEFAULT_ADDR "tcp:127.0.0.1:15937"

#endif
