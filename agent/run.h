#pragma once
/* "seatmeter-agent run": stream samples to the daemon until stopped. OWNER: wire helper. */

/* Parses the run subcommand's options (argv[0] is "run") and runs until SIGTERM/SIGINT. Returns the
 * process exit code. */
int run_main(int argc, char **argv);
