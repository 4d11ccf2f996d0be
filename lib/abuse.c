/* abuse.c: the account names of abuse monitoring (abuse.h). */
#include "abuse.h"
#include "susp.h"

#include <stdio.h>
#include <string.h>

int abuse_encode(char *out, size_t outsz, const char *p, size_t n)
{
	static const char keep[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				   "qrstuvwxyz0123456789._@+-";
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c && strchr(keep, c)) {
			if (k + 1 >= outsz)
				return -1;
			out[k++] = (char)c;
		} else {
			if (k + 3 >= outsz)
				return -1;
			k += (size_t)snprintf(out + k, outsz - k, "%%%02X", c);
		}
	}
	if (k >= outsz)
		return -1;
	out[k] = '\0';
	return 0;
}

int abuse_account(char *out, size_t n, const char *auth,
		  const char *registered, const char *ip, const char *helo)
{
	size_t l;

	if (!(auth && *auth))
		auth = registered;
	if (auth && *auth) {
		l = (size_t)snprintf(out, n, "%s:", ABUSE_KIND_USER);
		return l >= n ? -1 : abuse_encode(out + l, n - l, auth,
						  strlen(auth));
	}
	l = (size_t)snprintf(out, n, "%s:", ABUSE_KIND_DEVICE);
	if (l >= n || abuse_encode(out + l, n - l, ip ? ip : "",
				   ip ? strlen(ip) : 0) < 0)
		return -1;
	l = strlen(out);
	if (l + 2 >= n)
		return -1;
	out[l++] = '/';
	return abuse_encode(out + l, n - l, helo ? helo : "",
			    helo ? strlen(helo) : 0);
}

int abuse_split(const char *account, char *kind, size_t n, const char **name)
{
	const char *colon = strchr(account, ':');

	if (!colon || (size_t)(colon - account) >= n || !colon[1])
		return -1;
	memcpy(kind, account, (size_t)(colon - account));
	kind[colon - account] = '\0';
	if (strcmp(kind, ABUSE_KIND_USER) && strcmp(kind, ABUSE_KIND_DEVICE))
		return -1;
	*name = colon + 1;
	return 0;
}

int abuse_susp_line(char *out, size_t n, const char *account)
{
	char kind[16];
	const char *name;

	if (abuse_split(account, kind, sizeof kind, &name) < 0 ||
	    (size_t)snprintf(out, n, "%s %s\n", kind, name) >= n)
		return -1;
	return 0;
}

int abuse_susp_has(const struct susp *s, const char *kind, const char *name)
{
	char enc[ABUSE_KEY_MAX];

	if (!strcmp(kind, ABUSE_KIND_DEVICE))
		return susp_has(s, kind, name);
	return abuse_encode(enc, sizeof enc, name, strlen(name)) == 0 &&
	       susp_has(s, kind, enc);
}
