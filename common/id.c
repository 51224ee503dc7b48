#include <string.h>

#include "id.h"

bool id_is_valid(const char *s)
{
        size_t n;

        if (!s)
                return false;
        n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
        return n >= 1 && n <= ID_MAX && s[n] == 0;
}
