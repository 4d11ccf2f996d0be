/* exitcodes.h: the exit status contract between relaybox programs
 * (qmail's: 0 done, 100 permanent failure, 111 temporary failure). */
#ifndef EXITCODES_H
#define EXITCODES_H

#define EXIT_DONE 0
#define EXIT_PERM 100
#define EXIT_TEMP 111

#endif
