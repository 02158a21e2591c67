// SPDX-License-Identifier: MIT
/* test-ssh-conf - sockout-ssh configuration: defaults, every key, errors
 * collected with file:line, and the Terrapin guard on algorithm lists. */
#include "helpers/ssh/conf.c"

#include <stdio.h>
#include <sys/stat.h>

#include "t.h"

static char dir[] = "/tmp/test-ssh-conf.XXXXXX";

static const char *write_conf(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return path;
	fputs(text, f);
	fclose(f);
	return path;
}

static int load(const char *text, struct ssh_conf *c, struct conf_errors *e)
{
	memset(e, 0, sizeof(*e));
	ssh_conf_defaults(c);
	return ssh_conf_load(write_conf("t.conf", text), c, e);
}

int main(void)
{
	struct ssh_conf c;
	struct conf_errors e;
	char good[2048], key[300];

	if (!mkdtemp(dir))
		return 1;
	snprintf(key, sizeof(key), "%s", write_conf("id", "key\n"));
	write_conf("kh", "x\n");
	snprintf(good, sizeof(good),
		 "data-socket /run/x.data\n"
		 "event-socket /run/x.event\n"
		 "server gw.example.org:2222\n"
		 "user sockout\n"
		 "identity %s\n"
		 "known-hosts %s/kh\n",
		 key, dir);

	CHECK_EQ(load(good, &c, &e), 0);
	CHECK_STR(c.server_host, "gw.example.org");
	CHECK_EQ(c.server_port, 2222);
	CHECK_STR(c.ciphers, "aes128-ctr,aes256-ctr");
	CHECK_STR(c.macs, "hmac-sha2-256,hmac-sha2-512");
	CHECK_EQ(c.sessions, 1);
	CHECK_EQ(c.keepalive_ms, 15000);
	CHECK_STR(c.listen_address, "127.0.0.1");
	CHECK(!c.rendezvous);
	ssh_conf_free(&c);
	conf_errors_free(&e);

	char more[4096], rkey[300];
	snprintf(rkey, sizeof(rkey), "%s",
		 write_conf("rkey", "0123456789abcdef0123456789abcdef\n"));
	chmod(rkey, 0600);
	snprintf(more, sizeof(more),
		 "%s"
		 "sessions 4\nkeepalive 2s\nreconnect-min 100ms\n"
		 "reconnect-max 1m\nrendezvous 127.0.0.1:40080\nwindow 8M\n"
		 "ciphers aes256-ctr\nmacs hmac-sha2-512\n"
		 "listen-address 0.0.0.0\npeer-timeout 3s\n"
		 "rendezvous-key %s\n",
		 good, rkey);
	CHECK_EQ(load(more, &c, &e), 0);
	CHECK_EQ(c.sessions, 4);
	CHECK_EQ(c.keepalive_ms, 2000);
	CHECK_EQ(c.reconnect_min_ms, 100);
	CHECK_EQ(c.reconnect_max_ms, 60000);
	CHECK(c.rendezvous);
	CHECK_STR(c.rdv_host, "127.0.0.1");
	CHECK_EQ(c.rdv_port, 40080);
	CHECK_EQ(c.window, 8u * 1024 * 1024);
	CHECK_EQ(c.peer_timeout_ms, 3000);
	CHECK_STR(c.listen_address, "0.0.0.0");
	CHECK(c.rdv_key_set);
	CHECK_EQ(c.rdv_key_len, 32); /* the newline is not part of it */
	CHECK(c.rdv_key && memcmp(c.rdv_key, "0123456789abcdef", 16) == 0);
	ssh_conf_free(&c);
	conf_errors_free(&e);

	/* The rendezvous: no key is an error at the rendezvous line, unless
	 * the user says `none'; a key file others can read is refused with
	 * its line; a short key too. */
	char rdv[4096];
	snprintf(rdv, sizeof(rdv), "%srendezvous 127.0.0.1:40080\n", good);
	CHECK_EQ(load(rdv, &c, &e), 1);
	CHECK(e.text && strstr(e.text, "t.conf:7: rendezvous: needs rendezvous-key FILE"));
	ssh_conf_free(&c);
	conf_errors_free(&e);
	snprintf(rdv, sizeof(rdv),
		 "%srendezvous 127.0.0.1:40080\nrendezvous-key none\n", good);
	CHECK_EQ(load(rdv, &c, &e), 0);
	CHECK(c.rdv_key_set);
	CHECK_EQ(c.rdv_key_len, 0);
	ssh_conf_free(&c);
	conf_errors_free(&e);
	chmod(rkey, 0640);
	snprintf(rdv, sizeof(rdv), "%srendezvous-key %s\n", good, rkey);
	CHECK_EQ(load(rdv, &c, &e), 1);
	CHECK(e.text && strstr(e.text, "t.conf:7: rendezvous-key:") &&
	      strstr(e.text, "accessible by group or others (mode 0640)"));
	CHECK(!c.rdv_key);
	ssh_conf_free(&c);
	conf_errors_free(&e);
	chmod(rkey, 0604);
	CHECK_EQ(load(rdv, &c, &e), 1);
	ssh_conf_free(&c);
	conf_errors_free(&e);
	snprintf(rkey, sizeof(rkey), "%s", write_conf("short", "secret\n"));
	chmod(rkey, 0600);
	snprintf(rdv, sizeof(rdv),
		 "%srendezvous-key %s\nrendezvous-key none\n", good, rkey);
	CHECK_EQ(load(rdv, &c, &e), 2);
	CHECK(e.text && strstr(e.text, "t.conf:7: rendezvous-key:") &&
	      strstr(e.text, "too short a key (6 bytes"));
	CHECK(e.text && strstr(e.text, "t.conf:8: rendezvous-key given twice"));
	ssh_conf_free(&c);
	conf_errors_free(&e);

	/* Everything wrong at once: every error is reported, with lines. */
	CHECK_EQ(load("server\n"
		      "ciphers aes128-ctr,chacha20-poly1305@openssh.com\n"
		      "macs hmac-sha2-256-etm@openssh.com\n"
		      "sessions 99\n"
		      "bogus 1\n"
		      "keepalive soon\n"
		      "identity /nonexistent/key\n",
		      &c, &e),
		 12);
	CHECK(e.text && strstr(e.text, "t.conf:1: server: expected exactly one value"));
	CHECK(e.text && strstr(e.text, "t.conf:2: ciphers:") && strstr(e.text, "Terrapin"));
	CHECK(e.text && strstr(e.text, "t.conf:3: macs:"));
	CHECK(e.text && strstr(e.text, "t.conf:4: sessions"));
	CHECK(e.text && strstr(e.text, "t.conf:5: unknown keyword `bogus'"));
	CHECK(e.text && strstr(e.text, "t.conf:6: keepalive: bad duration"));
	CHECK(e.text && strstr(e.text, "t.conf:7: identity: cannot read"));
	CHECK(e.text && strstr(e.text, "known-hosts is required"));
	if (e.count != 12 && e.text)
		fputs(e.text, stderr);
	ssh_conf_free(&c);
	conf_errors_free(&e);

	CHECK(ssh_algo_check("ciphers", "aes128-cbc") != NULL);
	CHECK(ssh_algo_check("ciphers", "none") != NULL);
	CHECK(ssh_algo_check("ciphers", "aes128-ctr") == NULL);
	CHECK(ssh_algo_check("macs", "hmac-sha2-256") == NULL);
	CHECK(ssh_algo_check("macs", "") != NULL);

	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	T_DONE();
}
