/* A restore's prefetch thread (snapshot/wset.h): it faults the template's
 * working set in with madvise(MADV_POPULATE_WRITE) beside the running
 * guest, then ends. madvise, futex and exit are in the common list: it
 * needs nothing of its own. */
#include "vmm/jail/allow.h"

const struct jail_rule jail_allow_prefetch[] = {};
ALLOWLIST_LEN(jail_allow_prefetch);
