// links:
/* test_addr.c: RFC 5321 paths as MAIL FROM / RCPT TO carry them: a table
 * of inputs with the status, mailbox and ESMTP rest expected, then the
 * length limits at and one over (local part 64, path 256 with the
 * brackets, domain 255, label 63), built by code. */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "t.h"

#define N 0 /* allow_null / utf8 off */
#define Y 1

static const struct {
	const char *in;
	int allow_null, utf8;
	enum addr_status st;
	const char *out, *rest; /* checked on ADDR_OK */
} cases[] = {
	{ "<user@example.com>", N, N, ADDR_OK, "user@example.com", "" },
	{ "<User@EXAMPLE.Com>", N, N, ADDR_OK, "User@example.com", "" },
	{ " <user@example.com>", N, N, ADDR_OK, "user@example.com", "" },
	{ "user@example.com", N, N, ADDR_OK, "user@example.com", "" },
	{ "user@example.com SIZE=5", N, N, ADDR_OK, "user@example.com",
	  "SIZE=5" },
	{ "<user@example.com> SIZE=100", N, N, ADDR_OK, "user@example.com",
	  "SIZE=100" },
	{ "<user@example.com>  BODY=8BITMIME", N, N, ADDR_OK,
	  "user@example.com", "BODY=8BITMIME" },
	{ "<>", Y, N, ADDR_OK, "", "" },
	{ "<> SIZE=5", Y, N, ADDR_OK, "", "SIZE=5" },
	{ "<>", N, N, ADDR_NULL, NULL, NULL },
	{ "", Y, N, ADDR_NULL, NULL, NULL },
	{ "<@a.example,@b.example:user@c.example>", N, N, ADDR_ROUTE, NULL,
	  NULL },
	{ "<@a.example:user@c.example>", N, N, ADDR_ROUTE, NULL, NULL },
	{ "@a.example:user@c.example", N, N, ADDR_ROUTE, NULL, NULL },
	/* quoted space, '<', '>': RFC 5321 syntax, refused (lib/addr.h) */
	{ "<\"john doe\"@example.com>", N, N, ADDR_UNSAFE, NULL, NULL },
	{ "<\"a>b\"@example.com>", N, N, ADDR_UNSAFE, NULL, NULL },
	{ "<\"a<b>\"@example.com>", N, N, ADDR_UNSAFE, NULL, NULL },
	{ "<\"a\\<b\"@example.com>", N, N, ADDR_UNSAFE, NULL, NULL },
	/* quotes and quoted-pairs are syntax (RFC 5321 4.1.2): a local part
	 * that needs no quoting is its dot-string, one that does is quoted
	 * with a backslash only before '"' and '\\' */
	{ "<\"john.doe\"@example.com>", N, N, ADDR_OK, "john.doe@example.com",
	  "" },
	{ "<\"mailer\"@example.com>", N, N, ADDR_OK, "mailer@example.com", "" },
	{ "<\"mail\\er\"@Example.COM>", N, N, ADDR_OK, "mailer@example.com",
	  "" },
	{ "<\"\\m\\a\\i\\l\\e\\r\"@example.com>", N, N, ADDR_OK,
	  "mailer@example.com", "" },
	{ "<\"Mailer\"@example.com>", N, N, ADDR_OK, "Mailer@example.com", "" },
	{ "<\"a%b\"@example.com>", N, N, ADDR_OK, "a%b@example.com", "" },
	{ "<\"a\\+b\"@example.com> SIZE=5", N, N, ADDR_OK, "a+b@example.com",
	  "SIZE=5" },
	{ "<\"j\xc3\xb6rg\"@example.com>", N, Y, ADDR_OK,
	  "j\xc3\xb6rg@example.com", "" },
	{ "<\"john..doe\"@example.com>", N, N, ADDR_OK,
	  "\"john..doe\"@example.com", "" },
	{ "<\".a\"@example.com>", N, N, ADDR_OK, "\".a\"@example.com", "" },
	{ "<\"a.\"@example.com>", N, N, ADDR_OK, "\"a.\"@example.com", "" },
	{ "<\"a\\,b\"@example.com>", N, N, ADDR_OK, "\"a,b\"@example.com", "" },
	{ "<\"a@b\"@example.com>", N, N, ADDR_OK, "\"a@b\"@example.com", "" },
	{ "<\"a\\\"b\"@example.com>", N, N, ADDR_OK, "\"a\\\"b\"@example.com",
	  "" },
	{ "<\"a\\\\b\"@example.com>", N, N, ADDR_OK, "\"a\\\\b\"@example.com",
	  "" },
	{ "<\"\"@example.com>", N, N, ADDR_OK, "\"\"@example.com", "" },
	{ "<\"unterminated@example.com>", N, N, ADDR_SYNTAX, NULL, NULL },
	/* found by fuzz_addr: the quoted part ran past the unbracketed end */
	{ "\"john doe\"@[IPv6:21]", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "\"john doe\"@example.com", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "<\"a\\\xf6\"@example.com>", N, N, ADDR_8BIT, NULL, NULL },
	{ "<\"a\\\x7f\"@example.com>", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "<\"a\\\x09\"@example.com>", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "<\"a\x01\"@example.com>", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "<user@[192.0.2.1]>", N, N, ADDR_OK, "user@[192.0.2.1]", "" },
	{ "<user@[IPv6:2001:db8::1]>", N, N, ADDR_OK, "user@[ipv6:2001:db8::1]",
	  "" },
	{ "<user@[300.1.1.1]>", N, N, ADDR_BADDOMAIN, NULL, NULL },
	{ "<user@[2001:db8::1]>", N, N, ADDR_BADDOMAIN, NULL, NULL },
	{ "<user@[]>", N, N, ADDR_BADDOMAIN, NULL, NULL },
	{ "<user@[192.0.2.1>", N, N, ADDR_BADDOMAIN, NULL, NULL },
	{ "<user@example.com.>", N, N, ADDR_BADDOMAIN, NULL, NULL },
	{ "<user@.example.com>", N, N, ADDR_BADDOMAIN, NULL, NULL },
	{ "<user@example..com>", N, N, ADDR_BADDOMAIN, NULL, NULL },
	{ "<user@-example.com>", N, N, ADDR_BADDOMAIN, NULL, NULL },
	{ "<user@example-.com>", N, N, ADDR_BADDOMAIN, NULL, NULL },
	{ "<user@exa mple.com>", N, N, ADDR_BADDOMAIN, NULL, NULL },
	{ "<user@>", N, N, ADDR_BADDOMAIN, NULL, NULL },
	{ "<user@example.com@evil.example>", N, N, ADDR_BADDOMAIN, NULL, NULL },
	{ "<user.@example.com>", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "<.user@example.com>", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "<us..er@example.com>", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "<user @example.com>", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "< user@example.com>", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "<us\x01er@example.com>", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "<user(c)@example.com>", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "<user@example.com", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "<user@example.com>x", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "<<user@example.com>>", N, N, ADDR_SYNTAX, NULL, NULL },
	{ "<user>", N, N, ADDR_NODOMAIN, NULL, NULL },
	{ "user", N, N, ADDR_NODOMAIN, NULL, NULL },
	{ "<user%other@example.com>", N, N, ADDR_OK,
	  "user%other@example.com", "" },
	{ "<a!b@example.com>", N, N, ADDR_OK, "a!b@example.com", "" },
	{ "<a+tag@sub.example.com>", N, N, ADDR_OK, "a+tag@sub.example.com",
	  "" },
	{ "<j\xc3\xb6rg@example.com>", N, N, ADDR_8BIT, NULL, NULL },
	{ "<j\xc3\xb6rg@example.com>", N, Y, ADDR_OK,
	  "j\xc3\xb6rg@example.com", "" },
	{ "<\"j\xc3\xb6rg\"@example.com>", N, N, ADDR_8BIT, NULL, NULL },
	{ "<user@ex\xc3\xa4mple.com>", N, N, ADDR_8BIT, NULL, NULL },
	{ "<user@ex\xc3\xa4mple.com>", N, Y, ADDR_OK,
	  "user@ex\xc3\xa4mple.com", "" },
	/* under SMTPUTF8 the 8-bit bytes must be UTF-8 (RFC 6531 3.3) */
	{ "<a@bad\xff.example>", N, Y, ADDR_BADUTF8, NULL, NULL },
	{ "<a@bad\xff.example>", N, N, ADDR_8BIT, NULL, NULL },
	{ "<\xff" "a@example.com>", N, Y, ADDR_BADUTF8, NULL, NULL },
	{ "<\"\xff\"@example.com>", N, Y, ADDR_BADUTF8, NULL, NULL },
	{ "<a@ex\xc3.example>", N, Y, ADDR_BADUTF8, NULL, NULL },
	{ "<a@\xc0\xaf.example>", N, Y, ADDR_BADUTF8, NULL, NULL },
	{ "<a@\xed\xa0\x80.example>", N, Y, ADDR_BADUTF8, NULL, NULL },
	{ "<a@\xf0\x9f\x93\xa7.example>", N, Y, ADDR_OK,
	  "a@\xf0\x9f\x93\xa7.example", "" },
};

static void test_table(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char out[ADDR_MAX + 1] = "", name[400];
		const char *rest = NULL;
		enum addr_status st;

		st = addr_parse_path(cases[i].in, cases[i].allow_null,
				     cases[i].utf8, out, sizeof out, &rest);
		snprintf(name, sizeof name, "path %s%s%s: %s", cases[i].in,
			 cases[i].allow_null ? " (null ok)" : "",
			 cases[i].utf8 ? " (utf8)" : "",
			 addr_status_text(cases[i].st));
		for (char *p = name; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
		if (cases[i].st != ADDR_OK)
			T_CHECK(name, st == cases[i].st);
		else
			T_CHECK(name, st == ADDR_OK &&
					      !strcmp(out, cases[i].out) && rest &&
					      !strcmp(rest, cases[i].rest));
		if (st != cases[i].st)
			printf("  # got %d (%s) out \"%s\"\n", st,
			       addr_status_text(st), out);
	}
}

/* A domain of exactly n bytes: 63-byte labels separated by dots. */
static void make_domain(char *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = (i % 64 == 63) ? '.' : 'd';
	if (n && d[n - 1] == '.')
		d[n - 1] = 'e', d[n - 2] = '.'; /* never end on a dot */
	d[n] = '\0';
}

/* "<" + local (llen) + "@" + domain (dlen) + ">" */
static enum addr_status try_len(size_t llen, size_t dlen, int quoted)
{
	char *in = malloc(llen + dlen + 8), out[ADDR_MAX + 1];
	const char *rest;
	size_t k = 0;
	enum addr_status st;

	in[k++] = '<';
	if (quoted)
		in[k++] = '"';
	memset(in + k, 'l', llen);
	k += llen;
	if (quoted)
		in[k++] = '"';
	in[k++] = '@';
	make_domain(in + k, dlen);
	k += dlen;
	in[k++] = '>';
	in[k] = '\0';
	st = addr_parse_path(in, 0, 0, out, sizeof out, &rest);
	free(in);
	return st;
}

static void test_lengths(void)
{
	char d[400], out[16];
	const char *rest;

	T_CHECK("local part 64: ok", try_len(64, 11, 0) == ADDR_OK);
	T_CHECK("local part 65: too long", try_len(65, 11, 0) == ADDR_TOOLONG);
	T_CHECK("quoted local part 64 inside: ok", try_len(64, 11, 1) == ADDR_OK);
	T_CHECK("quoted local part 65 inside: too long",
		try_len(65, 11, 1) == ADDR_TOOLONG);
	/* mailbox = 64 + 1 + 189 = 254, path with <> = 256: the limit */
	T_CHECK("path of 256 with brackets: ok", try_len(64, 189, 0) == ADDR_OK);
	T_CHECK("path of 257 with brackets: too long",
		try_len(64, 190, 0) == ADDR_TOOLONG);
	T_CHECK("domain alone far over: too long",
		try_len(1, 300, 0) == ADDR_TOOLONG);
	T_CHECK("output buffer too small: too long",
		addr_parse_path("<user@example.com>", 0, 0, out, sizeof out,
				&rest) == ADDR_TOOLONG);

	make_domain(d, 255);
	T_CHECK("domain of 255: valid", addr_domain_valid(d, 0));
	make_domain(d, 256);
	T_CHECK("domain of 256: invalid", !addr_domain_valid(d, 0));
	memset(d, 'a', 63);
	strcpy(d + 63, ".example");
	T_CHECK("label of 63: valid", addr_domain_valid(d, 0));
	memset(d, 'a', 64);
	strcpy(d + 64, ".example");
	T_CHECK("label of 64: invalid", !addr_domain_valid(d, 0));
}

static const struct {
	const char *d;
	int literal_ok, valid;
} domains[] = {
	{ "example.com", 0, 1 },      { "a", 0, 1 },
	{ "_dmarc.example.com", 0, 1 }, { "xn--bcher-kva.example", 0, 1 },
	{ "1.2.3.4", 0, 1 },          { "", 0, 0 },
	{ ".", 0, 0 },                { "example.com.", 0, 0 },
	{ "a..b", 0, 0 },             { "-a.b", 0, 0 },
	{ "a-.b", 0, 0 },             { "a b", 0, 0 },
	{ "a/b", 0, 0 },              { "[192.0.2.1]", 0, 0 },
	{ "[192.0.2.1]", 1, 1 },      { "[IPv6:::1]", 1, 1 },
	{ "[ipv6:::1]", 1, 1 },       { "[IPv6:1.2.3.4]", 1, 0 },
	{ "[1.2.3]", 1, 0 },          { "[1.2.3.4", 1, 0 },
	{ "b\xc3\xbc" "cher.example", 0, 1 }, { "b\xfc" "cher.example", 0, 0 },
};

static void test_domains(void)
{
	char name[100];
	for (size_t i = 0; i < sizeof domains / sizeof *domains; i++) {
		snprintf(name, sizeof name, "domain \"%s\"%s %s", domains[i].d,
			 domains[i].literal_ok ? " (literal ok)" : "",
			 domains[i].valid ? "valid" : "invalid");
		T_CHECK(name, addr_domain_valid(domains[i].d,
						domains[i].literal_ok) ==
				      domains[i].valid);
	}
	T_STREQ("addr_domain: after last @", addr_domain("\"a@b\"@c.example"),
		"c.example");
	T_STREQ("addr_domain: none", addr_domain("postmaster"), "");
	char s[] = "MiXeD.Example";
	addr_lower(s);
	T_STREQ("addr_lower", s, "mixed.example");
}

/* the one form of a domain in keys (destinations, MTA-STS caches) */
static void test_domain_key(void)
{
	char k[32];

	T_CHECK("domain key of a name", addr_domain_key("Mail.Example.COM", k,
		sizeof k) == 0 && strcmp(k, "mail.example.com") == 0);
	T_CHECK("domain key of an IPv6 literal: lowercase whole",
		addr_domain_key("[IPv6:2001:DB8::AB]", k, sizeof k) == 0 &&
		    strcmp(k, "[ipv6:2001:db8::ab]") == 0);
	T_CHECK("domain key keeps 8-bit bytes",
		addr_domain_key("B\xc3\x9c" "CHER.de", k, sizeof k) == 0 &&
		    strcmp(k, "b\xc3\x9c" "cher.de") == 0);
	T_CHECK("domain key too long: -1, cut", addr_domain_key(
		"abcdefghij.example", k, 8) == -1 && strcmp(k, "abcdefg") == 0);
	T_CHECK("domain key that just fits", addr_domain_key("ABCDEFG", k, 8) ==
		0 && strcmp(k, "abcdefg") == 0);
}

int main(void)
{
	test_table();
	test_lengths();
	test_domains();
	test_domain_key();
	return t_done();
}
