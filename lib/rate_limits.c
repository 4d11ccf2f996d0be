/* rate_limits.c: limits from relay.conf defaults and rules.cdb values. */
#include "rate_limits.h"
#include "rulekeys.h"
#include "settings.h"

#include <limits.h>
#include <string.h>

/* per x licenses, capped (0 = unlimited, for per and for cap). */
static long per_license(long per, long licenses, long cap)
{
	long v;

	if (per <= 0)
		return 0;
	v = per > LONG_MAX / licenses ? LONG_MAX : per * licenses;
	return cap > 0 && v > cap ? cap : v;
}

void rate_limits_default(struct rate_limits *l, long licenses, int paid)
{
	if (licenses < 1)
		licenses = 1;
	l->user_msgs = cf.user_daily_messages;
	l->user_rcpts = cf.user_daily_rcpts;
	l->cust_daily = paid ? per_license(cf.customer_daily_per_license,
					   licenses, cf.customer_daily_cap)
			     : cf.unpaid_daily;
	l->cust_peak = paid ? per_license(cf.customer_peak_per_license,
					  licenses, cf.customer_peak_cap)
			    : cf.unpaid_peak;
}

void rate_limits_rules(struct rate_limits *l, const char *custval,
		       const char *userval)
{
	char paid[8] = "yes";

	if (!custval)
		custval = "";
	rk_get(custval, "paid", paid, sizeof paid);
	rate_limits_default(l, rk_num(custval, "licenses", 1),
			    strcmp(paid, "no") != 0);
	l->cust_daily = rk_num(custval, "daily", l->cust_daily);
	l->cust_peak = rk_num(custval, "peak", l->cust_peak);
	l->user_msgs = rk_num(custval, "user_messages", l->user_msgs);
	l->user_rcpts = rk_num(custval, "user_rcpts", l->user_rcpts);
	if (userval) {
		l->user_msgs = rk_num(userval, "user_messages", l->user_msgs);
		l->user_rcpts = rk_num(userval, "user_rcpts", l->user_rcpts);
	}
}
