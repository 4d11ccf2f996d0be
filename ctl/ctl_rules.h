/* ctl_rules.h: the checks of `relayctl rules rollback` (ctl_rules_check.c). */
#ifndef CTL_RULES_H
#define CTL_RULES_H

#include "../conf/rulehist.h"

/* Whether version n may be put back: it has a relay.rules, and that
 * passes makecdb's checks today.  0 to go on (also when force, after a
 * warning), -1 refused after a message. */
int ctl_rules_check(const struct rulehist *h, int n, int force);
/* Print, one a line, the users version n brings back or removes and
 * those whose password hash it changes, against users.cdb in place. */
void ctl_rules_users(const struct rulehist *h, int n);

#endif
