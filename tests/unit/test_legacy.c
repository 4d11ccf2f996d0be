// links:
/* test_legacy.c: the legacy_clients list (lib/legacy.h): what parses,
 * what matches (IPv4 and IPv6, single addresses and ranges), and the
 * TLS version names of legacy_tls_min. */
#include "t.h"
#include "legacy.h"
#include "settings.h"

#include <openssl/ssl.h>
#include <string.h>

int main(void)
{
	struct cidr nets[4];
	char err[200] = "";

	T_CHECK("parse: empty list", legacy_parse("", nets, 4, err, sizeof err) == 0);
	T_CHECK("parse: spaces and commas",
		legacy_parse(" 192.0.2.0/24, 10.1.2.3 2001:db8::/48,", nets, 4,
			     err, sizeof err) == 3);
	T_CHECK("parse: bad word refused",
		legacy_parse("192.0.2.0/24 printer", nets, 4, err, sizeof err) < 0 &&
		strstr(err, "\"printer\""));
	T_CHECK("parse: host bits refused",
		legacy_parse("192.0.2.1/24", nets, 4, err, sizeof err) < 0);
	T_CHECK("parse: too many refused",
		legacy_parse("1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4 5.5.5.5", nets, 4,
			     err, sizeof err) < 0 && strstr(err, "more than 4"));

	cf.legacy_clients = "192.0.2.0/24 10.1.2.3 2001:db8::/48";
	T_CHECK("client: in a range", legacy_client("192.0.2.77") == 1);
	T_CHECK("client: a single address", legacy_client("10.1.2.3") == 1);
	T_CHECK("client: its neighbour is not", legacy_client("10.1.2.4") == 0);
	T_CHECK("client: IPv6 range", legacy_client("2001:db8:0:1::5") == 1);
	T_CHECK("client: other IPv6", legacy_client("2001:db9::5") == 0);
	T_CHECK("client: not an address", legacy_client("unknown") == 0);
	T_CHECK("client: NULL", legacy_client(NULL) == 0);

	T_CHECK("tls: TLSv1", legacy_tls_version("TLSv1") == TLS1_VERSION);
	T_CHECK("tls: TLSv1.1", legacy_tls_version("TLSv1.1") == TLS1_1_VERSION);
	T_CHECK("tls: TLSv1.3", legacy_tls_version("TLSv1.3") == TLS1_3_VERSION);
	T_CHECK("tls: SSLv3 is not one", legacy_tls_version("SSLv3") == 0);
	return t_done();
}
