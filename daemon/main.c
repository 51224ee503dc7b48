/* Placeholder until the daemon-core helper lands the event loop. */
#include "log.h"

int main(int argc, char **argv)
{
        log_open("seatmeterd");
        return 1;
}
