/* Placeholder until the wire helper lands the run loop. */
#include "run.h"
#include "log.h"

int run_main(int argc, char **argv)
{
        log_error("run: not implemented yet");
        return 1;
}
