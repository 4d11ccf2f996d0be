/* mon_page.c: the status page, plain HTML without scripts.  Everything
 * shown that came from a file goes through mon_html. */
#include "mon.h"
#include "settings.h"

#include <stdio.h>
#include <string.h>

void mon_page(struct mon_buf *b, const struct mon_snap *sn)
{
	mon_printf(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
		      "<title>relaybox ");
	mon_html(b, cf.hostname);
	mon_printf(b, "</title></head><body>\n");
	(void)sn;
	mon_printf(b, "</body></html>\n");
}
