/* The subcommands of hfx-guest-demo; each takes its argv with argv[0] the
 * subcommand's name and returns the exit code. */
#ifndef HFX_GUEST_COMMANDS_H
#define HFX_GUEST_COMMANDS_H

int cmd_draw(int argc, char **argv);
int cmd_sub(int argc, char **argv);
int cmd_both(int argc, char **argv);
int cmd_latency(int argc, char **argv);
int cmd_vnc_latency(int argc, char **argv);
int cmd_lease(int argc, char **argv);
int cmd_lease_test(int argc, char **argv);

#endif
