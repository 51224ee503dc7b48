#pragma once
/* The settings of "seatmeter-agent run": one table (common/conf.h) for the [agent] section of the
 * config file and the command line, which wins. The long options and the option help are made from the
 * table. */

#include <stdint.h>

#include "id.h"
#include "watch.h"

#define RUN_INTERVAL_DEFAULT_MS 1000
#define RUN_INTERVAL_MIN_MS 10
#define RUN_INTERVAL_MAX_MS (3600 * 1000)
#define RUN_CONNECT_DEFAULT "unix:/run/seatmeter/ingest.sock"
#define RUN_ID_MAX ID_MAX
#define RUN_PATH_MAX 4096 /* --spool, --root, --token-file, --config */

typedef struct RunConfig {
        char *connect;        /* default RUN_CONNECT_DEFAULT */
        char *id;             /* NULL: the host name */
        char *token_file;     /* NULL: none */
        char *spool;          /* NULL: $STATE_DIRECTORY or . */
        char *cgroup;         /* NULL: our own */
        char *root;           /* NULL: / */
        uint64_t interval_ms; /* default RUN_INTERVAL_DEFAULT_MS */
        WatchOptions watch;   /* virt, label, net_iface: see watch.h */
} RunConfig;

/* Parses the run subcommand's options (argv[0] is "run") and the config file --config names into ret:
 * the built-in defaults, then the file, then the command line on top. Errors are logged. Returns 0, 1
 * after printing --help, or <0 (a usage error: bad option, bad value, unreadable file). ret is to be
 * released with run_config_done() in every case. */
int run_config_parse(int argc, char **argv, RunConfig *ret);

/* Frees what c owns. */
void run_config_done(RunConfig *c);
