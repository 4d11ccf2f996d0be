/* abuse.c: the account names of abuse monitoring (abuse.h). */
#include "abuse.h"
#include "addr.h"
#include "idna.h"
#include "ipaddr.h"
#include "susp.h"

#include <ctype.h>
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

/* p lowercased, then encoded after what out holds already; 0 or -1.
 * One account however the client spells it (relay-policy's lookup of a
 * suspension ignores case too). */
static int add_lower(char *out, size_t n, const char *p)
{
	char low[1024];
	size_t l = strlen(out), pl = strlen(p);

	if (pl >= sizeof low || l >= n)
		return -1;
	for (size_t i = 0; i <= pl; i++)
		low[i] = (char)tolower((unsigned char)p[i]);
	return abuse_encode(out + l, n - l, low, pl);
}

static int kind_name(char *out, size_t n, const char *kind, const char *name)
{
	if ((size_t)snprintf(out, n, "%s:", kind) >= n)
		return -1;
	return add_lower(out, n, name);
}

/* The client's address as one device: an IPv6 client by its /64
 * (privacy addresses change inside it, and one /64 is one LAN), an IPv4
 * client whole; the text as given when it does not parse. */
static void device_net(const char *ip, char *out, size_t n)
{
	struct ipaddr a, net;

	snprintf(out, n, "%s", ip);
	if (ipaddr_parse(ip, &a) < 0)
		return;
	if (ipaddr_is_v4(&a)) {
		ipaddr_format(&a, out, n);
		return;
	}
	ipaddr_client_net(&a, 64, &net);
	ipaddr_format(&net, out, n);
	if (strlen(out) + 4 < n)
		strcat(out, "/64");
}

int abuse_device(char *out, size_t n, const char *ip, const char *helo,
		 int helo_named)
{
	char net[80], h[256];
	size_t hl = helo ? strlen(helo) : 0;

	device_net(ip ? ip : "", net, sizeof net);
	if (helo_named && hl && hl < sizeof h) {
		memcpy(h, helo, hl + 1);
		if (h[hl - 1] == '.')
			h[--hl] = '\0';
		if (hl && kind_name(out, n, ABUSE_KIND_DEVICE, net) == 0 &&
		    strlen(out) + 1 < n) {
			strcat(out, "/");
			if (add_lower(out, n, h) == 0)
				return 0;
		}
	}
	/* the HELO did not name the customer (then it is the client's free
	 * choice), or the key would not fit: the address alone */
	return kind_name(out, n, ABUSE_KIND_DEVICE, net);
}

int abuse_device_typed(char *out, size_t n, const char *ip, const char *helo)
{
	size_t l = (size_t)snprintf(out, n, "%s:", ABUSE_KIND_DEVICE);

	if (l >= n || abuse_encode(out + l, n - l, ip, strlen(ip)) < 0)
		return -1;
	l = strlen(out);
	if (l + 2 >= n)
		return -1;
	out[l++] = '/';
	return abuse_encode(out + l, n - l, helo, strlen(helo));
}

int abuse_accounts(char out[][ABUSE_KEY_MAX], const char *auth,
		   const char *registered, const char *ip, const char *helo,
		   int helo_named)
{
	if (auth && *auth)
		return kind_name(out[0], ABUSE_KEY_MAX, ABUSE_KIND_USER, auth)
		       < 0 ? -1 : 1;
	if (abuse_device(out[0], ABUSE_KEY_MAX, ip, helo, helo_named) < 0)
		return -1;
	if (!(registered && *registered))
		return 1;
	return kind_name(out[1], ABUSE_KEY_MAX, ABUSE_KIND_SENDER,
			 registered) < 0 ? -1 : 2;
}

int abuse_split(const char *account, char *kind, size_t n, const char **name)
{
	const char *colon = strchr(account, ':');

	if (!colon || (size_t)(colon - account) >= n || !colon[1])
		return -1;
	memcpy(kind, account, (size_t)(colon - account));
	kind[colon - account] = '\0';
	if (strcmp(kind, ABUSE_KIND_USER) && strcmp(kind, ABUSE_KIND_DEVICE) &&
	    strcmp(kind, ABUSE_KIND_SENDER))
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

int abuse_policy_reply(int code, const char *text)
{
	size_t d;

	if (code < 500 || code > 599 || !text || strncmp(text, "5.7.", 4))
		return 0;
	d = strspn(text + 4, "0123456789");
	return d >= 1 && d <= 3 && (text[4 + d] == ' ' || text[4 + d] == '\0');
}

int abuse_rcpt_domain(char *out, size_t n, const char *rcpt)
{
	const char *at = rcpt ? strrchr(rcpt, '@') : NULL;
	char a[ADDR_DOMAIN_MAX + 1];
	const char *d;
	size_t k = 0;

	if (!at || !at[1] || n == 0)
		return -1;
	/* one domain however it is spelt: its A-label (UTS #46 folds the
	 * case and width of a U-label); a name without one as written */
	d = idna_alabel(at + 1, a, sizeof a, NULL) == IDNA_OK ? a : at + 1;
	for (; *d; d++) {
		unsigned char c = (unsigned char)tolower((unsigned char)*d);
		char hex[4];
		size_t w = 1;
		if (c && strchr(ABUSE_DOMAIN_CHARS, c) && c != '%')
			hex[0] = (char)c;
		else
			w = (size_t)snprintf(hex, sizeof hex, "%%%02x", c);
		if (k + w >= n)
			break; /* cut, never inside a %xx */
		memcpy(out + k, hex, w);
		k += w;
	}
	out[k] = '\0';
	return 0;
}
