#pragma once
/* The agent's end of the link to the daemon: a non-blocking connect to an address parsed with
 * address_parse(..., ADDRESS_CONNECT, ...) (common/address.h). */

#include <sys/socket.h>

#include "address.h"
#include "macro.h"


/* Creates a non-blocking, close-on-exec stream socket and starts connecting it to a (a tcp host name is
 * resolved here, which may block briefly). Returns 0 when connected at once, 1 when the connection is in
 * progress (wait for EPOLLOUT, then call link_connect_finish()), each with the fd in *ret_fd; or -errno. */
int link_connect(const SocketAddress *a, int *ret_fd);

/* Result of an in-progress connect once the fd is writable: 0 or the -errno of the failure. */
int link_connect_finish(int fd);
