/* makecdb.h: the compiler from relay.rules to rules.cdb and users.cdb.
 * makecdb_lex.c splits lines and reports; makecdb_parse.c handles each
 * statement; makecdb_check.c does the whole-file checks; makecdb_write.c
 * writes the CDB files atomically.  conf/RULES.md is the language. */
#ifndef MAKECDB_H
#define MAKECDB_H

#include <stddef.h>

#include "ipaddr.h"

#define MK_TOKMAX 32
#define MK_LINEMAX 4096
#define MK_NAMEMAX 64

struct mk_tok {
	char *s;
	int col;          /* 1-based */
};

struct mk_line {
	struct mk_tok tok[MK_TOKMAX];
	int n;
	int lineno;
};

/* a string -> index map (open addressing) */
struct mk_map {
	char **key;
	int *val;
	size_t cap, n;
};
int mk_map_get(const struct mk_map *m, const char *key);   /* -1 absent */
int mk_map_put(struct mk_map *m, const char *key, int val); /* -1 on ENOMEM */
void mk_map_free(struct mk_map *m);

enum { MK_SENDERS_REGISTERED, MK_SENDERS_DOMAIN, MK_SENDERS_ANY };
enum { MK_AUTH_IP = 1, MK_AUTH_SMTP = 2, MK_AUTH_BOTH = 3 };

struct mk_cust {
	char *name;
	long licenses, daily, peak;     /* -1 = from relay.conf */
	long umsgs, urcpts;             /* default user limits, -1 = conf */
	int paid, suspended, line, ndomains, nrules;
	char *archive;                  /* lib/archive.h's target, or NULL */
	long archive_keep;              /* days, -1 = not given */
	long concurrency;               /* delivery jobs at once, 0 = any */
	int scan;                       /* MK_SCAN_*: 0 = relay.conf's */
	long scan_score;                /* -1 = relay.conf's */
	char *admin;                    /* abuse alerts go here, or NULL */
	int first_dom;                  /* index in dom[] when ndomains */
};
enum { MK_SCAN_CONF, MK_SCAN_OFF, MK_SCAN_SCORE, MK_SCAN_REJECT };
extern const char *const mk_scan_enum[];
struct mk_rule {
	char *name;
	int cust, senders, auth, tls, enabled, line, nips;
};
struct mk_dom {
	char *name;
	int cust, line;
};
struct mk_user {
	char *addr, *hash, *custname;
	int cust, suspended, line, col;
	long messages, rcpts;           /* -1 = from relay.conf */
};
struct mk_ip {
	struct cidr c;
	int rule, line, col;
};
struct mk_route {
	char *key, *val;
	int line;
};
struct mk_dkim {
	char *domain, *selector, *key;  /* key: an absolute path */
	int alg, subdomains, enabled, line, dom;
	long expire;                    /* 0 = no x= */
};

#define MK_VEC(type, name) type *name; size_t n_##name, cap_##name

struct mk {
	const char *file;
	int errors, warnings, quiet;
	void *diag;       /* FILE * for diagnostics; NULL = stderr */
	MK_VEC(struct mk_cust, cust);
	MK_VEC(struct mk_rule, rule);
	MK_VEC(struct mk_dom, dom);
	MK_VEC(struct mk_user, user);
	MK_VEC(struct mk_ip, ip);
	MK_VEC(struct mk_route, route);
	MK_VEC(struct mk_dkim, dkim);
	struct mk_map custmap, rulemap, dommap, usermap, routemap, dkimmap;
	const char *dir;  /* the instance: relative key= paths start there */
	long dkim_owner;  /* uid to own key files; -1: dkimkey_owner() */
};

/* Grow vector v of s by one zeroed element; returns it, exits on ENOMEM. */
void *mk_grow(void **v, size_t *n, size_t *cap, size_t size);
#define MK_PUSH(m, name) \
	((__typeof__((m)->name))mk_grow((void **)&(m)->name, &(m)->n_##name, \
					&(m)->cap_##name, sizeof *(m)->name))
char *mk_strdup(const char *s);

/* Diagnostics "file:line:col: error|warning: text" on stderr. */
void mk_error(struct mk *m, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void mk_warn(struct mk *m, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Options: "key=value" words checked against a table per statement. */
enum opt_kind { OPT_NUM, OPT_BOOL, OPT_ENUM, OPT_STR };
struct mk_opt {
	const char *name;
	enum opt_kind kind;
	const char *const *enums;   /* OPT_ENUM: NULL-terminated */
	void *var;                  /* long *, int *, int *, char ** */
	int required;
};
/* Parse words first.. of l as options; -1 after reporting an error. */
int mk_opts(struct mk *m, struct mk_line *l, int first,
	    const struct mk_opt *o, int n);
/* At least n words, the last not an option; else a usage error. */
int mk_want_words(struct mk *m, struct mk_line *l, int n, const char *usage);
/* Word i is a domain (lowercased in place); dot_ok allows ".parent". */
int mk_domain_ok(struct mk *m, struct mk_line *l, int i, int dot_ok);
/* Word i has no U-label; else an error naming its A-label. */
int mk_domain_ascii(struct mk *m, struct mk_line *l, int i);

/* The dkim statement and its rules.cdb keys (makecdb_dkim.c). */
void mk_st_dkim(struct mk *m, struct mk_line *l);
void mk_write_dkim(struct mk *m, void (*put)(void *, const char *,
					       const char *), void *out);

/* Split a line into tokens (modifies it); -1 with an error reported. */
int mk_lex(struct mk *m, char *text, int lineno, struct mk_line *l);

/* Read file path whole into *text (malloc'd, *len bytes); -1 after an
 * error reported.  makecdb parses and keeps exactly the text it read. */
int mk_read_file(struct mk *m, const char *path, char **text, size_t *len);
/* Parse text of len bytes (not modified; a NUL byte is an error). */
int mk_parse_buf(struct mk *m, const char *name, const char *text,
		 size_t len);
/* Parse a whole file / text (modified in place). */
int mk_parse_file(struct mk *m, const char *path);
int mk_parse_text(struct mk *m, const char *name, char *text);
void mk_parse_line(struct mk *m, struct mk_line *l);

/* Warnings for the limits of 0 (no limit) on a customer or user line
 * whose options parsed. */
void mk_warn_zero_limits(struct mk *m, const struct mk_line *l);

/* Whole-file checks (references, overlaps); adds errors and warnings. */
void mk_check(struct mk *m);

/* Write rules.cdb and users.cdb atomically, both written before either
 * is renamed: 0, -1 (message printed, nothing changed), or MK_WRITE_HALF
 * when users.cdb was renamed into place and rules.cdb could not be. */
#define MK_WRITE_HALF (-2)
int mk_write(struct mk *m, const char *rules_path, const char *users_path);

void mk_init(struct mk *m, const char *file);
void mk_free(struct mk *m);

#endif
