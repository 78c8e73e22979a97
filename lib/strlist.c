#include "strlist.h"

#include <stdlib.h>
#include <string.h>

char *strlist_trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
    return s;
}

int strlist_each(const char *list, int (*fn)(char *item, void *arg), void *arg)
{
    char *copy = strdup(list != NULL ? list : "");
    if (copy == NULL) {
        return -2;
    }
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL && rc == 0;
         tok = strtok_r(NULL, ",", &save)) {
        char *item = strlist_trim(tok);
        if (*item != '\0') {
            rc = fn(item, arg);
        }
    }
    free(copy);
    return rc;
}
