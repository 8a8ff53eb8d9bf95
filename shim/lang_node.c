/* lang_node.c -- JavaScript frames for sockets a node program makes. */
#include "lang.h"

int sl_lang_node_init(void)
{
    return 0;
}
