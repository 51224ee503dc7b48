#pragma once
/* "seatmeter-agent run": stream samples to the daemon until stopped. Behaviour, exit codes and the spool
 * are described in docs/wire.md. */

#define RUN_EXIT_OK 0      /* stopped by SIGTERM or SIGINT, spool flushed */
#define RUN_EXIT_FAILURE 1 /* could not start: sampler, spool, event loop */
#define RUN_EXIT_USAGE 2   /* bad command line or configuration file */

/* Parses the run subcommand's options (argv[0] is "run") and runs until SIGTERM/SIGINT. Returns the
 * process exit code. A daemon refusing the agent (bad token, unknown id) does not end the process: the
 * agent keeps sampling into its spool and asks again every RUN_REFUSED_RETRY_MS, so fixing the daemon's
 * configuration is enough to get the backlog through. */
int run_main(int argc, char **argv);
