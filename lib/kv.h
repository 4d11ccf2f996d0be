/* kv.h: the payload of a frame, "key=value" lines ("phase=rcpt\nip=..\n").
 * Keys are [a-z0-9_]; values are any bytes but '\n' and NUL (kv_add turns
 * them into spaces, so a peer's text cannot forge a line). */
#ifndef KV_H
#define KV_H

#include <stddef.h>

#define KV_MAXPAIRS 512

/* Building a message. */
struct kv {
	char *buf;
	size_t len, cap;
	int failed;     /* set when an add ran out of memory or NS_MAX */
};

void kv_init(struct kv *k);
void kv_free(struct kv *k);
void kv_reset(struct kv *k);
void kv_add(struct kv *k, const char *key, const char *value);
void kv_addn(struct kv *k, const char *key, const char *value, size_t n);
void kv_addf(struct kv *k, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Send as one netstring; -1 on failure (including k->failed). */
int kv_send(struct kv *k, int fd);
/* The same on a unix socket with descriptors attached (ns_write_fds). */
int kv_send_fds(struct kv *k, int sock, const int *fds, int nfds);

/* Reading a message: parsed in place, pointers into the payload. */
struct kv_pair {
	const char *key, *value;
};
struct kv_msg {
	struct kv_pair pair[KV_MAXPAIRS];
	size_t n;
};

/* Split payload (modified in place); -1 when a line has no '=', a key is
 * malformed, or there are more than KV_MAXPAIRS lines. */
int kv_parse(struct kv_msg *m, char *payload, size_t len);
/* First value for key, or NULL. */
const char *kv_get(const struct kv_msg *m, const char *key);
/* Value for key, or def. */
const char *kv_get_or(const struct kv_msg *m, const char *key, const char *def);
/* All values for key, in order; returns how many (at most max). */
size_t kv_get_all(const struct kv_msg *m, const char *key, const char **out,
		  size_t max);

#endif
