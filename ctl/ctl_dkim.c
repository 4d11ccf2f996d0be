/* ctl_dkim.c: relayctl dkim keygen|show|check.
 *   keygen DOMAIN SELECTOR [--ed25519] [--bits N]  a new key in
 *          DIR/dkim/DOMAIN.SELECTOR.key (never over an existing one),
 *          owned by the signing uid, mode 0600; prints the DNS record to
 *          publish and the relay.rules line that switches it on
 *   show [DOMAIN]   the keys, selectors and their records
 *   check DOMAIN    the published records against the keys
 *          (ctl_dkim_check.c)
 * Keys are made with OpenSSL's EVP (ctl_dkim_key.c). */
#include "ctl.h"
#include "ctl_dkim.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "dkimkey.h"
#include "exitcodes.h"
#include "privs.h"
#include "settings.h"

/* The uid that signs, and so the only one that may read the keys: the
 * signer runs inside relay-queue (ARCHITECTURE.md, DKIM signing); its
 * owner check is dkimkey_owner(cf.user_queue, ...). */
#define CTL_DKIM_OWNER (cf.user_queue)

/* DIR/dkim, made when missing (0700, owned by the signing uid when
 * root); an fd on it, or -1.  An existing one that others can enter or a
 * third uid owns is refused: the keys in it would not be private. */
static int ctl_dkim_dir(const struct passwd *pw)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, made;

	snprintf(path, sizeof path, "%s/%s", cf.dir, DKIMKEY_DIR);
	made = mkdir(path, 0700) == 0;
	if (!made && errno != EEXIST) {
		fprintf(stderr, "relayctl: dkim: mkdir %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "relayctl: dkim: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (made && pw && fchown(fd, pw->pw_uid, pw->pw_gid) < 0) {
		fprintf(stderr, "relayctl: dkim: chown %s: %s\n", path,
			strerror(errno));
		close(fd);
		return -1;
	}
	if (!made && ((st.st_mode & 077) ||
		      (st.st_uid != 0 && st.st_uid != geteuid() &&
		       (!pw || st.st_uid != pw->pw_uid)))) {
		fprintf(stderr, "relayctl: dkim: %s must be mode 0700 and owned "
				"by %s\n", path, CTL_DKIM_OWNER);
		close(fd);
		return -1;
	}
	return fd;
}

/* The new key into dkim/NAME: O_EXCL, so an existing key (or anything
 * else there, a symlink too) is never replaced.  An exit status. */
static int ctl_dkim_store(int dfd, const char *name, EVP_PKEY *pkey,
			  const struct passwd *pw)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					   O_CLOEXEC, 0600);
	const char *what = "write";

	if (fd < 0) {
		if (errno == EEXIST)
			return fprintf(stderr, "relayctl: dkim keygen: %s/dkim/%s "
					       "exists; a key is never replaced: "
					       "choose a new selector\n", cf.dir,
				       name), EXIT_PERM;
		fprintf(stderr, "relayctl: dkim keygen: %s/dkim/%s: %s\n",
			cf.dir, name, strerror(errno));
		return errno == ELOOP ? EXIT_PERM : EXIT_TEMP;
	}
	if (pw && fchown(fd, pw->pw_uid, pw->pw_gid) < 0) {
		what = "chown";
	} else if (fchmod(fd, 0600) < 0) {
		what = "chmod";
	} else if (ctl_dkim_key_write(fd, pkey) == 0 && fsync(fd) == 0) {
		int rc = close(fd);
		fd = -1;
		if (rc == 0 && fsync(dfd) == 0)
			return EXIT_DONE;
	}
	fprintf(stderr, "relayctl: dkim keygen: %s %s/dkim/%s failed\n", what,
		cf.dir, name);
	if (fd >= 0)
		close(fd);
	unlinkat(dfd, name, 0);
	return EXIT_TEMP;
}

static int ctl_dkim_keygen_usage(void)
{
	fprintf(stderr, "usage: relayctl dkim keygen DOMAIN SELECTOR "
			"[--ed25519] [--bits N]  (RSA %d by default, %d-%d)\n",
		CTL_DKIM_BITS_DEFAULT, DKIMKEY_RSA_BITS_MIN, DKIMKEY_RSA_BITS_MAX);
	return EXIT_PERM;
}

static void ctl_dkim_print_new(const char *domain, const char *sel,
			       EVP_PKEY *pkey, const char *rec, int root)
{
	char path[PATH_MAX], desc[32];

	dkimkey_default_path(path, sizeof path, cf.dir, domain, sel);
	ctl_dkim_key_describe(pkey, desc, sizeof desc);
	printf("key: %s (%s, owner %s, mode 0600)\n", path, desc,
	       root ? CTL_DKIM_OWNER : "you");
	if (!root)
		printf("not root: as root, chown %s %s (makecdb insists)\n",
		       CTL_DKIM_OWNER, path);
	printf("publish this DNS record:\n");
	ctl_dkim_key_zone_line(domain, sel, rec, stdout);
	printf("then add this line to relay.rules and run makecdb:\n"
	       "dkim %s %s%s\n", domain, sel,
	       EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519 ?
		       " alg=ed25519" : "");
}

struct ctl_dkim_req {
	char domain[256], sel[DKIMKEY_SELECTOR_MAX + 1];
	int ed;
	long bits;
};

/* DOMAIN SELECTOR [--ed25519] [--bits N], in any order; 0 or -1. */
static int ctl_dkim_keygen_args(int argc, char **argv,
				struct ctl_dkim_req *r)
{
	static const struct option opts[] = {
		{ "ed25519", no_argument, 0, 'e' },
		{ "bits", required_argument, 0, 'b' },
		{ 0, 0, 0, 0 },
	};
	int c, bits_given = 0;
	char *end;

	r->ed = 0;
	r->bits = CTL_DKIM_BITS_DEFAULT;
	optind = 0; /* 0: glibc starts afresh, permuting (options after words) */
	while ((c = getopt_long(argc + 1, argv - 1, "", opts, NULL)) != -1) {
		if (c == 'e') {
			r->ed = 1;
		} else if (c == 'b') {
			r->bits = strtol(optarg, &end, 10);
			bits_given = 1;
			if (*end || r->bits < DKIMKEY_RSA_BITS_MIN ||
			    r->bits > DKIMKEY_RSA_BITS_MAX)
				return -1;
		} else {
			return -1;
		}
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc != 2 || (r->ed && bits_given) ||
	    strlen(argv[0]) >= sizeof r->domain ||
	    strlen(argv[1]) >= sizeof r->sel)
		return -1;
	snprintf(r->domain, sizeof r->domain, "%s", argv[0]);
	snprintf(r->sel, sizeof r->sel, "%s", argv[1]);
	addr_lower(r->domain);
	addr_lower(r->sel);
	return 0;
}

static int ctl_dkim_keygen(int argc, char **argv)
{
	char name[PATH_MAX], rec[CTL_DKIM_REC_MAX];
	struct ctl_dkim_req r;
	struct passwd *pw = NULL;
	EVP_PKEY *pkey;
	int dfd, rc;

	if (ctl_dkim_keygen_args(argc, argv, &r) < 0)
		return ctl_dkim_keygen_usage();
	if (!ctl_dkim_name_ok(r.domain, 0) || !ctl_dkim_name_ok(r.sel, 1)) {
		fprintf(stderr, "relayctl: dkim keygen: bad domain or selector (a "
				"selector is letters, digits, '-' and dots, at "
				"most %d)\n", DKIMKEY_SELECTOR_MAX);
		return EXIT_PERM;
	}
	if (privs_is_root() && !(pw = getpwnam(CTL_DKIM_OWNER))) {
		fprintf(stderr, "relayctl: dkim keygen: no user %s "
				"(conf/mkusers.sh)\n", CTL_DKIM_OWNER);
		return EXIT_TEMP;
	}
	if (!(pkey = ctl_dkim_key_new(r.ed, (int)r.bits)) ||
	    ctl_dkim_key_record(pkey, rec, sizeof rec) < 0) {
		fprintf(stderr, "relayctl: dkim keygen: OpenSSL could not make "
				"the key\n");
		EVP_PKEY_free(pkey);
		return EXIT_TEMP;
	}
	snprintf(name, sizeof name, "%s.%s.key", r.domain, r.sel);
	rc = EXIT_TEMP;
	if ((dfd = ctl_dkim_dir(pw)) >= 0) {
		rc = ctl_dkim_store(dfd, name, pkey, pw);
		if (rc == EXIT_DONE)
			ctl_dkim_print_new(r.domain, r.sel, pkey, rec, pw != NULL);
		close(dfd);
	}
	EVP_PKEY_free(pkey);
	return rc;
}

/* What makecdb's owner and mode check says of a key file: relay-queue
 * signs with such a key, with a warning in the log at each read. */
static void ctl_dkim_show_access(const struct stat *st)
{
	char why[256];
	uid_t owner;

	if (dkimkey_owner(CTL_DKIM_OWNER, &owner) == 0 &&
	    dkimkey_check_access(st, owner, why, sizeof why) < 0)
		printf("  problem: %s: makecdb refuses this key; relay-queue "
		       "signs with it and warns in the log\n", why);
}

static void ctl_dkim_show_one(const struct ctl_dkim_entry *e)
{
	char why[128], desc[32], rec[CTL_DKIM_REC_MAX];
	struct passwd *pw;
	struct stat st;
	EVP_PKEY *pkey = ctl_dkim_key_load(e->path, &st, why, sizeof why);
	int ed = pkey && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519;

	printf("%s %s: ", e->domain, e->selector);
	if (e->in_rules)
		printf("relay.rules line %d, alg=%s%s\n", e->line, e->alg,
		       e->enabled ? "" : ", enabled=no");
	else
		printf("not in relay.rules (to sign with it: dkim %s %s%s)\n",
		       e->domain, e->selector, ed ? " alg=ed25519" : "");
	if (!pkey) {
		printf("  key %s: %s\n", e->path, why);
		return;
	}
	pw = getpwuid(st.st_uid);
	ctl_dkim_key_describe(pkey, desc, sizeof desc);
	printf("  key %s: %s, owner %s, mode %04o\n", e->path, desc,
	       pw ? pw->pw_name : "?", (unsigned)(st.st_mode & 07777));
	ctl_dkim_show_access(&st);
	if (ctl_dkim_key_record(pkey, rec, sizeof rec) == 0) {
		printf("  ");
		ctl_dkim_key_zone_line(e->domain, e->selector, rec, stdout);
	}
	EVP_PKEY_free(pkey);
}

static int ctl_dkim_show(int argc, char **argv)
{
	struct ctl_dkim_entry *e;
	size_t n;

	if (argc > 1 || (argc == 1 && argv[0][0] == '-')) {
		fprintf(stderr, "usage: relayctl dkim show [DOMAIN]\n");
		return EXIT_PERM;
	}
	if (ctl_dkim_list(argc ? argv[0] : NULL, &e, &n) < 0)
		return EXIT_TEMP;
	if (n == 0)
		printf("no DKIM keys%s%s\n", argc ? " for " : "",
		       argc ? argv[0] : "");
	for (size_t i = 0; i < n; i++)
		ctl_dkim_show_one(&e[i]);
	free(e);
	return EXIT_DONE;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} ctl_dkim_cmds[] = {
	{ "keygen", ctl_dkim_keygen },
	{ "show", ctl_dkim_show },
	{ "check", ctl_dkim_check },
};

int ctl_dkim(int argc, char **argv)
{
	for (size_t i = 0; argc > 0 && i < sizeof ctl_dkim_cmds /
						sizeof ctl_dkim_cmds[0]; i++)
		if (strcmp(argv[0], ctl_dkim_cmds[i].name) == 0)
			return ctl_dkim_cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "usage: relayctl dkim keygen DOMAIN SELECTOR "
			"[--ed25519] [--bits N]\n"
			"       relayctl dkim show [DOMAIN]\n"
			"       relayctl dkim check DOMAIN\n");
	return EXIT_PERM;
}
