/* rate_limits.h: the limits of doc/BEHAVIOUR.md §3 for one user/customer, from the
 * relay.conf defaults and the overrides makecdb writes into the customer
 * and user values (conf: keys licenses, paid, daily, peak, user_messages,
 * user_rcpts).  Used by relay-policy (enforcing) and relayctl stats
 * (showing). */
#ifndef RATE_LIMITS_H
#define RATE_LIMITS_H

struct rate_limits {
	long user_msgs, user_rcpts, cust_daily, cust_peak; /* 0 = unlimited */
};

/* The relay.conf defaults for a customer with `licenses` licenses (< 1
 * counts as 1: a paid customer is never unlimited by mistake), paid or
 * not (unpaid: unpaid_daily / unpaid_peak). */
void rate_limits_default(struct rate_limits *l, long licenses, int paid);

/* The defaults for the customer value custval ("licenses=..\npaid=..\n"
 * as in rules.cdb; NULL = a customer with 1 paid license), then its
 * daily/peak/user_messages/user_rcpts, then the user value's (NULL = no
 * user) user_messages/user_rcpts. */
void rate_limits_rules(struct rate_limits *l, const char *custval,
		       const char *userval);

#endif
