/* Placeholder until the agent helper lands the command line. */
#include "log.h"
#include "run.h"

int main(int argc, char **argv)
{
        log_open("seatmeter-agent");
        if (argc > 1 && streq(argv[1], "run"))
                return run_main(argc - 1, argv + 1);
        return 1;
}
