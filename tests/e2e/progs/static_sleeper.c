/* static_sleeper.c -- linked statically; sleeps until killed. */
#include <unistd.h>

int main(void)
{
    for (;;)
        pause();
}
