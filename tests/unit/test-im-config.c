// SPDX-License-Identifier: MIT
/*
 * test-im-config - the sockout-im config reader: a good file, and every
 * error collected with its file:line.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers/im/config.c"
#include "helpers/im/crypto.c"
#include "t.h"

static char dir[] = "/tmp/test-im-config.XXXXXX";
static char path[300], pw[300], idf[300];

static int load(const char *text, struct im_conf *c, char **errs)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
	return im_conf_load(path, c, errs);
}

int main(void)
{
	struct im_conf c;
	char *errs = NULL, good[2048];
	const char *key = "q2zW0XlQ6l1a4pJzWm5S6d0Yqf3yq7GfJx2cXg0qkUo=";

	CHECK_EQ(im_crypto_init(), 0);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/im.conf", dir);
	snprintf(pw, sizeof(pw), "%s/pw", dir);
	snprintf(idf, sizeof(idf), "%s/id", dir);
	char idpk[64];
	CHECK_EQ(im_identity_generate(idf, idpk, sizeof(idpk)), 0);
	FILE *f = fopen(pw, "w");
	fputs("secret\n", f);
	fclose(f);
	chmod(pw, 0600);

	snprintf(good, sizeof(good),
		 "data-socket /run/x.data\nevent-socket /run/x.event\n"
		 "jid Alice@example.org/sockout\npassword-file %s\n"
		 "identity %s\npeer Bob@Example.org %s\n"
		 "inband yes\ntls-trust /etc/ca.pem\nconnect-timeout 2s\n",
		 pw, idf, key);
	CHECK_EQ(load(good, &c, &errs), 0);
	CHECK_STR(c.password, "secret");
	CHECK_STR(c.server_host, "example.org"); /* default: the domain */
	CHECK_EQ(c.server_port, 5222);
	CHECK(c.inband && c.tls);
	CHECK_EQ(c.connect_timeout_ms, 2000u);
	CHECK(SLIST_FIRST(&c.peers) && !strcmp(SLIST_FIRST(&c.peers)->jid, "bob@example.org")); /* lower-cased */
	char pk[64];
	im_pubkey_format(c.id.pk, pk, sizeof(pk));
	CHECK_STR(pk, idpk); /* the identity is loaded */
	im_conf_free(&c);
	CHECK(c.id.sk == NULL);

	/* Files the config names but that cannot be used: each error at the
	 * line that names the file, collected with the others.  (Root reads
	 * any mode, so "unreadable" is a missing file or a directory.) */
	snprintf(good, sizeof(good),
		 "data-socket /a\nevent-socket /b\njid alice@x/r\n"
		 "password-file %s/none\n"		/* line 4: missing */
		 "identity %s\n",			/* line 5: a directory */
		 dir, dir);
	CHECK_EQ(load(good, &c, &errs), -EINVAL);
	CHECK(errs != NULL);
	if (errs) {
		fputs(errs, stderr);
		CHECK(strstr(errs, ":4: password-file ") != NULL);
		CHECK(strstr(errs, "/none: No such file or directory") != NULL);
		CHECK(strstr(errs, ":5: identity ") != NULL);
	}
	free(errs);
	im_conf_free(&c);

	/* an identity others can read, and a file that is not one */
	chmod(idf, 0644);
	snprintf(good, sizeof(good),
		 "data-socket /a\nevent-socket /b\njid alice@x/r\n"
		 "identity %s\npassword-file %s\n", idf, pw);
	CHECK_EQ(load(good, &c, &errs), -EINVAL);
	CHECK(errs && strstr(errs, ":4: identity ") &&
	      strstr(errs, "(mode must be 0600 or stricter)"));
	free(errs);
	im_conf_free(&c);
	snprintf(good, sizeof(good),
		 "data-socket /a\nevent-socket /b\njid alice@x/r\n"
		 "identity %s\npassword-file %s\n", pw, pw);
	CHECK_EQ(load(good, &c, &errs), -EINVAL);
	CHECK(errs && strstr(errs, ":4: identity ") &&
	      strstr(errs, "not an identity"));
	free(errs);
	im_conf_free(&c);

	/* An unknown keyword is unknown whatever its word count. */
	snprintf(good, sizeof(good),
		 "data-socket /a\nevent-socket /b\njid alice@x/r\n"
		 "frobnicate\n"			/* line 4 */
		 "frobnicate a b c\n"			/* line 5 */
		 "peer bob@x\n");			/* line 6: known, short */
	CHECK_EQ(load(good, &c, &errs), -EINVAL);
	CHECK(errs != NULL);
	if (errs) {
		fputs(errs, stderr);
		CHECK(strstr(errs, ":4: unknown keyword: `frobnicate'") != NULL);
		CHECK(strstr(errs, ":5: unknown keyword: `frobnicate'") != NULL);
		CHECK(strstr(errs, ":6: peer takes 2 arguments") != NULL);
		CHECK(strstr(errs, "takes 1 argument\n") == NULL);
	}
	free(errs);
	im_conf_free(&c);

	snprintf(good, sizeof(good),
		 "data-socket /run/x.data\n"
		 "jid alice@example.org\n"		/* line 2: no resource */
		 "password-file %s\n"
		 "peer bob@example.org AAAA\n"		/* line 4: bad key */
		 "peer bob@example.org/x %s\n"		/* line 5: not bare */
		 "inband maybe\n"			/* line 6 */
		 "server host:99999\n"			/* line 7 */
		 "frobnicate 1\n"			/* line 8 */
		 "tls\n",				/* line 9: no argument */
		 pw, key);
	CHECK_EQ(load(good, &c, &errs), -EINVAL);
	CHECK(errs != NULL);
	if (errs) {
		fputs(errs, stderr);
		CHECK(strstr(errs, ":2: jid: need a full JID") != NULL);
		CHECK(strstr(errs, ":4: peer: not a public key") != NULL);
		CHECK(strstr(errs, ":5: peer: expected a bare JID") != NULL);
		CHECK(strstr(errs, ":6: inband: expected yes or no") != NULL);
		CHECK(strstr(errs, ":7: server:") != NULL);
		CHECK(strstr(errs, ":8: unknown keyword: `frobnicate'") != NULL);
		CHECK(strstr(errs, ":9: tls takes 1 argument") != NULL);
		CHECK(strstr(errs, "event-socket is required") != NULL);
		CHECK(strstr(errs, "identity is required") != NULL);
	}
	free(errs);
	im_conf_free(&c);

	/* our own JID as a peer, the same peer twice */
	snprintf(good, sizeof(good),
		 "data-socket /a\nevent-socket /b\njid alice@x/r\npassword-file %s\n"
		 "identity /i\npeer alice@x %s\npeer bob@x %s\npeer bob@x %s\n",
		 pw, key, key, key);
	CHECK_EQ(load(good, &c, &errs), -EINVAL);
	CHECK(errs && strstr(errs, "peer alice@x is this helper's own JID"));
	CHECK(errs && strstr(errs, ":8: peer: `bob@x' appears twice"));
	free(errs);
	im_conf_free(&c);

	/* JIDs that would need XML escaping are refused */
	CHECK(!im_jid_ok("a'b@x/r"));
	CHECK(!im_jid_ok("a@x/<r>"));
	CHECK(!im_jid_ok("@x"));
	CHECK(im_jid_ok("a@x/r s") == false);
	CHECK(im_jid_ok("proxy.example.org"));

	unlink(pw);
	unlink(idf);
	unlink(path);
	rmdir(dir);
	T_DONE();
}
