#pragma once
/* The agent's end of the link to the daemon: parsing of the connect URI and a non-blocking connect.
 *   unix:PATH          a unix stream socket; unix:@NAME for the abstract namespace
 *   tcp:HOST:PORT      HOST a name, an IPv4 address or [IPv6]
 *   vsock:CID:PORT     CID a number, or "host" (2) / "local" (1) */

#include <sys/socket.h>

#include "macro.h"

#define LINK_URI_MAX 1024      /* longest URI accepted */
#define LINK_HOST_MAX 255      /* longest host name (RFC 1035) */
#define LINK_UNIX_PATH_MAX 107 /* sizeof(sun_path) - 1 */

typedef enum LinkKind {
        LINK_UNIX,
        LINK_TCP,
        LINK_VSOCK,
} LinkKind;

typedef struct LinkAddress {
        LinkKind kind;
        char path[LINK_UNIX_PATH_MAX + 1]; /* unix: the path, "@name" for an abstract socket */
        char host[LINK_HOST_MAX + 1];      /* tcp */
        uint16_t port;                     /* tcp */
        uint32_t cid, vsock_port;          /* vsock */
} LinkAddress;

/* Parses uri. Returns 0, or -EINVAL for an unknown scheme or a malformed address, -ENAMETOOLONG for a
 * unix path or host name over its limit, -ERANGE for a port or CID out of range. */
int link_parse_uri(const char *uri, LinkAddress *ret);

const char *link_kind_to_string(LinkKind k);

/* Creates a non-blocking, close-on-exec stream socket and starts connecting it to a (a tcp host name is
 * resolved here, which may block briefly). Returns 0 when connected at once, 1 when the connection is in
 * progress (wait for EPOLLOUT, then call link_connect_finish()), each with the fd in *ret_fd; or -errno. */
int link_connect(const LinkAddress *a, int *ret_fd);

/* Result of an in-progress connect once the fd is writable: 0 or the -errno of the failure. */
int link_connect_finish(int fd);
