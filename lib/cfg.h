/* cfg.h: a reader of "key = value" files driven by a table of settings
 * ({name, type, default, &var, min, max}).  '#' starts a comment line.
 * Unknown keys, bad numbers and out-of-range values are errors that name
 * the file and line. */
#ifndef CFG_H
#define CFG_H

#include <stddef.h>

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL };

struct cfg_item {
	const char *name;
	enum cfg_type type;
	const char *def;   /* default, as it would be written in the file */
	void *var;         /* char ** (malloc'd), long *, or int * */
	long min, max;     /* for CFG_INT */
};

/* Apply every default, then the file (a missing file is not an error when
 * missing_ok).  Returns 0, or -1 with the first error's message in err;
 * the good lines after a bad one are applied all the same (up to a line
 * too long, where reading stops). */
int cfg_load(const char *path, const struct cfg_item *tab, size_t n,
	     int missing_ok, char *err, size_t errsz);

/* Set one item from text; -1 with err on a bad value. */
int cfg_set(const struct cfg_item *it, const char *value, char *err,
	    size_t errsz);

#endif
