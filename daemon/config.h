#pragma once
/* The daemon's configuration: one declarative table of keys (type, default, bounds) for the settings
 * engine of common/conf.h, the INI file (/etc/seatmeter/seatmeterd.conf, read by conf_parse_file()), then
 * the command line on top. Read by every daemon module. */

#include <limits.h>

#include "address.h"
#include "checksum.h"
#include "id.h"
#include "macro.h"

#define CONFIG_LISTEN_MAX 8
#define CONFIG_NAME_MAX ID_MAX
#define CONFIG_URL_MAX 1024
#define CONFIG_PATH_MAX 4096

typedef struct BbbConfig {
        char name[CONFIG_NAME_MAX + 1];
        char url[CONFIG_URL_MAX + 1];        /* ends in "/", e.g. https://host/bigbluebutton/ */
        char secret_file[CONFIG_PATH_MAX];
        char *secret;                        /* loaded from secret_file; never logged or served */
        ChecksumAlgo checksum;
        unsigned interval_s;                 /* 1..3600, default 5 */
        unsigned line;                       /* of the section header in the file, 0: not from a file */
} BbbConfig;

/* Capacity thresholds of the site ([capacity]) or of one agent ([agent NAME]). NAN: not set here (the
 * agent falls back to the site, the site to the built-in defaults of daemon/capacity.h). */
typedef struct CapacityThresholds {
        double cpu;       /* share of the effective CPUs, default 0.8 */
        double memory;    /* share of the memory limit (working set), default 1.0 */
        double net;       /* share of the link speed, default 0.8 */
        double link_mbps; /* link speed in Mbit/s (10^6 bits per second); none by default */
} CapacityThresholds;

/* A named experiment: a time window that curves, models and reports can select by name. */
typedef struct ExperimentConfig {
        char name[CONFIG_NAME_MAX + 1];
        int64_t start_ms, end_ms; /* epoch milliseconds, start < end */
        unsigned line;            /* of the section header in the file, 0: not from a file */
} ExperimentConfig;

#define CONFIG_PEER_UID_NONE UINT_MAX

typedef struct AgentConfig {
        char id[CONFIG_NAME_MAX + 1];
        bool has_token;
        uint8_t token_sha256[32];
        unsigned peer_uid;                   /* unix socket peers must have this uid; CONFIG_PEER_UID_NONE */
        char bbb[CONFIG_NAME_MAX + 1];       /* empty: none */
        CapacityThresholds capacity;         /* NAN: the site's */
        unsigned line;                       /* of the section header in the file, 0: not from a file */
} AgentConfig;

typedef struct Config {
        char config_file[CONFIG_PATH_MAX];   /* the file read (absolute when it could be resolved), empty:
                                              * built-in defaults and the command line only */
        char http[256];                      /* ADDR:PORT, default 127.0.0.1:8480 */
        unsigned n_listen;
        bool listen_default;                 /* listen[] is the built-in default, not from a file or --listen */
        char listen[CONFIG_LISTEN_MAX][CONFIG_PATH_MAX]; /* unix:PATH, tcp:HOST:PORT, vsock:CID:PORT */
        char db[CONFIG_PATH_MAX];
        unsigned raw_retention_days;         /* default 14 */
        unsigned trend_retention_days;       /* default 730 */
        unsigned commit_interval_ms;         /* default 200: samples are committed (and acked) in batches */
        char http_token_file[CONFIG_PATH_MAX]; /* optional bearer token for the HTTP API */
        char *http_token;
        char tls_cert[CONFIG_PATH_MAX], tls_key[CONFIG_PATH_MAX]; /* HTTPS when both are set */
        unsigned http_threads;               /* default 2 */
        unsigned http_max_connections;       /* default 512 */
        unsigned http_timeout_s;             /* idle connection timeout, default 15 */
        unsigned zabbix_max_age_s;           /* older samples are not current for Zabbix, default 60 */

        unsigned n_bbb;
        size_t n_bbb_alloc;
        BbbConfig *bbb;
        unsigned n_agents;
        size_t n_agents_alloc;
        AgentConfig *agents;

        CapacityThresholds capacity;         /* [capacity]: the site's thresholds, NAN: built-in default */
        unsigned n_experiments;
        size_t n_experiments_alloc;
        ExperimentConfig *experiments;       /* [experiment NAME] */
} Config;

/* Fills in the embedded defaults ($STATE_DIRECTORY/seatmeter.db or ./seatmeter.db, and so on). */
int config_new_defaults(Config **ret);
/* Parses an INI file on top of c. Errors name the file and line. */
int config_load_file(Config *c, const char *path);
/* Checks cross references (agent bbb = names a [bbb]), loads secret files. */
int config_finish(Config *c);
/* Prints the effective settings (secrets and tokens redacted). */
void config_dump(const Config *c, FILE *f);
Config *config_free(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free)

/* Sets one [daemon] key from the command line (--db, --http, --listen), checked like the file's. */
int config_set_daemon(Config *c, const char *key, const char *value);
/* Empties the listen list (--listen given on the command line replaces the file's list). */
void config_clear_listen(Config *c);

const AgentConfig *config_find_agent(const Config *c, const char *id);
const BbbConfig *config_find_bbb(const Config *c, const char *name);


#define CONFIG_AGENTS_MAX 4096
#define CONFIG_BBB_MAX 256
#define CONFIG_EXPERIMENTS_MAX 4096
#define CONFIG_SHARE_MAX 100.0   /* a threshold share above this is a typo */
#define CONFIG_MBPS_MAX 1e7      /* 10 Tbit/s */
#define CONFIG_SECRET_MAX 4096 /* BBB secret and HTTP token files */

