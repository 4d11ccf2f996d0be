/* stopsig.h: the signal that tells relay-listen the whole relay stops.
 * relay-master sends it, instead of SIGTERM, when it stops every daemon
 * (relayctl stop, systemctl stop: its SIGTERM or SIGINT), and makes it
 * relay-listen's parent-death signal (a relay-master killed with
 * SIGKILL).  relay-listen then ends every relay-smtpd, open sessions
 * included: relay-queue and relay-policy stop at the same moment, so no
 * session could end well, and a relay-smtpd left running would outlive
 * the relay unseen.  A plain SIGTERM (relay-listen alone stopped or
 * restarted) only stops accepting: the running sessions go on.  Its
 * default action ends a relay-listen that has no handler yet (and so no
 * children). */
#ifndef STOPSIG_H
#define STOPSIG_H

#include <signal.h>

#define STOPSIG_RELAY SIGUSR1

#endif
