/* sts.h: MTA-STS (RFC 8461) records and policies, parsed strictly: the
 * _mta-sts TXT record, the policy file served at
 * https://mta-sts.<domain>/.well-known/mta-sts.txt, the match of an MX
 * name against the policy's mx patterns, and relay-remote's cache file
 * of a policy (DIR/mta-sts/<domain>, STS_CACHE_DIR). */
#ifndef STS_H
#define STS_H

#include <stddef.h>
#include <time.h>

#define STS_CACHE_DIR "mta-sts"     /* under the instance directory */
#define STS_ID_MAX 32               /* RFC 8461 3.1: 1*32(ALPHA / DIGIT) */
/* RFC 8461 sets no limit on mx lines: every pattern is kept, one after
 * another in a pool of STS_MX_POOL bytes (at least 64 of the longest,
 * hundreds of usual ones); a policy whose patterns do not fit is
 * refused whole, never enforced with some of them missing. */
#define STS_MX_POOL 16384
#define STS_NAME_MAX 256
#define STS_POLICY_MAX 65536        /* a bigger policy file is refused */
#define STS_MAX_AGE_MAX 31557600    /* RFC 8461 3.2: one year */

enum sts_mode { STS_NONE, STS_TESTING, STS_ENFORCE };

struct sts_policy {
	enum sts_mode mode;
	long max_age;
	size_t nmx;               /* patterns in mx */
	size_t mx_used;           /* bytes of mx used */
	char mx[STS_MX_POOL];     /* the patterns, each NUL-terminated,
				     lowercased, "*.x" allowed */
};

/* The id of one TXT record "v=STSv1; id=...;" into id (STS_ID_MAX + 1
 * bytes): 0, or -1 when the record is not an STSv1 record or is
 * malformed. */
int sts_txt_parse(const char *txt, char *id);

/* A policy file (CRLF or LF lines "key: value"): version STSv1, mode,
 * max_age and, unless mode is none, at least one mx; unknown keys are
 * ignored, a known key twice (but mx), a bad value or more mx patterns
 * than STS_MX_POOL holds refuses it.  0, or
 * -1 with the reason in err. */
int sts_policy_parse(const char *text, size_t len, struct sts_policy *p,
		     char *err, size_t errsz);

/* p's patterns in turn: the first for prev NULL, then the one after
 * prev; NULL after the last. */
const char *sts_mx_next(const struct sts_policy *p, const char *prev);

/* 1 when the MX host name (a trailing dot allowed) matches one of p's
 * patterns: equal, or "*.rest" for exactly one label more than rest. */
int sts_mx_match(const struct sts_policy *p, const char *mx);

const char *sts_mode_name(enum sts_mode m);

/* The cache file: "relaybox-mta-sts 1", "id=", "fetched=", an empty
 * line, then the policy file as served.  sts_cache_format writes it into
 * buf (0, or -1 when it does not fit); sts_cache_parse reads one back
 * (the policy parsed again: a damaged file is no policy). */
int sts_cache_format(char *buf, size_t n, const char *id, time_t fetched,
		     const char *policy, size_t plen, size_t *outlen);
int sts_cache_parse(const char *buf, size_t len, char *id, time_t *fetched,
		    struct sts_policy *p);

#endif
