/* date822.c: RFC 5322 section 3.3 dates in local time. */
#include "date822.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void date822_format(long long t, char *buf, size_t n)
{
	static const char *const day[] = { "Sun", "Mon", "Tue", "Wed",
					   "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;
	long off;

	localtime_r(&tt, &tm);
	off = tm.tm_gmtoff / 60;
	snprintf(buf, n, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
		 day[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 off < 0 ? '-' : '+', labs(off) / 60 % 100, labs(off) % 60);
}
