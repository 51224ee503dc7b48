#pragma once
/* Socket addresses as seatmeter writes them: the agent's --connect and the daemon's listen= lines.
 *   unix:PATH          a unix stream socket; the agent connects to unix:@NAME in the abstract namespace
 *   tcp:HOST:PORT      HOST a name, an IPv4 address or [IPv6]
 *   vsock:CID:PORT     CID a number, "local" (1) or "host" (2); a listener also takes "any"
 * One grammar for both ends; what only makes sense on one end (port 0 or CID "any" to listen) is chosen
 * by AddressUse. Pure: strings and structs in and out, nothing is resolved or opened here. */

#include <stdint.h>
#include <sys/socket.h>

#include "macro.h"

#define ADDRESS_MAX 1024          /* longest address text accepted */
#define ADDRESS_HOST_MAX 255      /* longest host name (RFC 1035) */
#define ADDRESS_UNIX_PATH_MAX 107 /* sizeof(sun_path) - 1 */
#define ADDRESS_VSOCK_CID_ANY UINT32_MAX /* VMADDR_CID_ANY */

typedef enum AddressKind {
        ADDRESS_UNIX,
        ADDRESS_TCP,
        ADDRESS_VSOCK,
        _ADDRESS_KIND_MAX,
} AddressKind;

typedef enum AddressUse {
        ADDRESS_CONNECT, /* tcp port 1..65535; vsock CID and port below VMADDR_CID_ANY/VMADDR_PORT_ANY */
        ADDRESS_LISTEN,  /* also tcp port 0 (any free port), CID "any", any vsock port */
} AddressUse;

typedef struct SocketAddress {
        AddressKind kind;
        char path[ADDRESS_UNIX_PATH_MAX + 1]; /* unix: the path, "@name" for an abstract socket */
        char host[ADDRESS_HOST_MAX + 1];      /* tcp: a name or an address, IPv6 without brackets */
        uint32_t port;                        /* tcp (at most 65535) and vsock */
        uint32_t cid;                         /* vsock */
} SocketAddress;

/* Parses s for use. Returns 0 and *ret; -EINVAL for NULL, an unknown scheme or a malformed address;
 * -ENAMETOOLONG for text over ADDRESS_MAX, a unix path over ADDRESS_UNIX_PATH_MAX or a host name over
 * ADDRESS_HOST_MAX; -ERANGE for a port or CID out of range for use. *ret is written only on success. */
int address_parse(const char *s, AddressUse use, SocketAddress *ret);

/* Parses HOST:PORT or [V6]:PORT, port 0..65535 (the tcp part of an address, and the daemon's http=).
 * host holds host_size bytes. Returns 0, or the errors of address_parse(). */
int address_parse_host_port(const char *s, char *host, size_t host_size, uint32_t *ret_port);

/* Writes a as address_parse() reads it ("tcp:[::1]:8481") into buf of size bytes, cut short if it does not
 * fit. Returns buf. */
char *address_to_string(const SocketAddress *a, char *buf, size_t size);

/* The sockaddr of a unix address a (kind ADDRESS_UNIX): a file path, or "@name" in the abstract namespace
 * (the name after a NUL, its length counted without a terminator). *ret is a struct sockaddr_un;
 * returns its length for bind() and connect(), or -ENAMETOOLONG. */
int address_unix_sockaddr(const SocketAddress *a, struct sockaddr_storage *ret);

/* "unix", "tcp" or "vsock"; NULL for any other value. */
const char *address_kind_to_string(AddressKind k);

/* The address of a socket as getsockname() or accept() give it: AF_UNIX (an unnamed socket has the
 * empty path), AF_INET and AF_INET6 as numbers, AF_VSOCK. Returns 0, or -EAFNOSUPPORT for any other
 * family. */
int address_from_sockaddr(const struct sockaddr *sa, socklen_t len, SocketAddress *ret);
