/* instance.h: a throwaway instance for the fuzz targets that run a
 * part's code: a fresh folder under /tmp with relay.conf holding conf,
 * loaded into cf (settings_load).  Returns the folder (static). */
#ifndef FUZZ_INSTANCE_H
#define FUZZ_INSTANCE_H

const char *fuzz_instance(const char *conf);
/* Write text to dir/name (0600); aborts on failure. */
void fuzz_instance_file(const char *dir, const char *name, const char *text);

#endif
