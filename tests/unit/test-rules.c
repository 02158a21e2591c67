// SPDX-License-Identifier: MIT
/* Unit tests of the dispatch table: CIDR v4/v6, port ranges, first match,
 * rewrites, and "no rule" meaning deny. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../dispatcher/table.c"
#include "t.h"

static struct dconf *load(const char *text)
{
	char path[] = "/tmp/test-rules.XXXXXX";
	int fd = mkstemp(path);
	struct conf_errors e = { 0 };
	struct dconf *c = NULL;

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return NULL;
	close(fd);
	if (dconf_load(path, &c, &e) < 0)
		fprintf(stderr, "unexpected errors:\n%s", e.text);
	conf_errors_free(&e);
	unlink(path);
	return c;
}

static struct so_addr A(const char *ip, uint16_t port)
{
	struct so_addr a = { .port = port };

	if (inet_pton(AF_INET, ip, a.addr) == 1)
		a.family = 4;
	else if (inet_pton(AF_INET6, ip, a.addr) == 1)
		a.family = 6;
	return a;
}

/* line of the matching rule, 0 when none */
static int m(struct dconf *c, int dir, const char *ip, uint16_t port)
{
	struct so_addr a = A(ip, port);
	struct rule *r = table_match(c, dir, &a, NULL, NULL);

	return r ? r->line : 0;
}

static void test_match(void)
{
	struct dconf *c = load(
		"helper office data /run/o.data event /run/o.event\n" /* 1 */
		"connect port 22 helper office to 127.0.0.1:22\n"     /* 2 */
		"connect 203.0.113.0/24 port 80-89 deny\n"	      /* 3 */
		"connect 2001:db8::/32 any port deny\n"		      /* 4 */
		"connect 198.51.100.7 port 443 direct 198.51.100.8:8443\n" /* 5 */
		"connect 203.0.113.128/25 direct\n"		      /* 6 */
		"connect 10.0.0.0/8 port 1000-2000 direct 9999\n"     /* 7 */
		"accept port 80 direct 8080\n"			      /* 8 */
		"accept port 8080 helper office\n"		      /* 9 */
		"connect ::1 port 5 deny\n"			      /* 10 */
		"connect 0.0.0.0/0 port 7 direct\n");		      /* 11 */
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ(c->nrules, 10u);
	CHECK_EQ(m(c, RULE_CONNECT, "198.51.100.2", 22), 2);
	CHECK_EQ(m(c, RULE_CONNECT, "2001:db8::1", 22), 2); /* first match */
	CHECK_EQ(m(c, RULE_CONNECT, "203.0.113.5", 80), 3);
	CHECK_EQ(m(c, RULE_CONNECT, "203.0.113.5", 89), 3);
	CHECK_EQ(m(c, RULE_CONNECT, "203.0.113.5", 90), 0);
	CHECK_EQ(m(c, RULE_CONNECT, "203.0.114.5", 80), 0);
	CHECK_EQ(m(c, RULE_CONNECT, "203.0.113.200", 80), 3);
	CHECK_EQ(m(c, RULE_CONNECT, "203.0.113.200", 90), 6);
	CHECK_EQ(m(c, RULE_CONNECT, "203.0.113.127", 90), 0);
	CHECK_EQ(m(c, RULE_CONNECT, "2001:db8:ffff::1", 1), 4);
	CHECK_EQ(m(c, RULE_CONNECT, "2001:db9::1", 1), 0);
	CHECK_EQ(m(c, RULE_CONNECT, "198.51.100.7", 443), 5);
	CHECK_EQ(m(c, RULE_CONNECT, "198.51.100.7", 444), 0);
	CHECK_EQ(m(c, RULE_CONNECT, "10.1.2.3", 1500), 7);
	CHECK_EQ(m(c, RULE_CONNECT, "10.1.2.3", 2001), 0);
	CHECK_EQ(m(c, RULE_CONNECT, "::1", 5), 10);
	CHECK_EQ(m(c, RULE_CONNECT, "127.0.0.1", 5), 0); /* family matters */
	CHECK_EQ(m(c, RULE_CONNECT, "1.2.3.4", 7), 11);
	CHECK_EQ(m(c, RULE_CONNECT, "::2", 7), 0);
	CHECK_EQ(m(c, RULE_ACCEPT, "0.0.0.0", 80), 8);
	CHECK_EQ(m(c, RULE_ACCEPT, "0.0.0.0", 8080), 9);
	CHECK_EQ(m(c, RULE_ACCEPT, "0.0.0.0", 22), 0); /* direction matters */

	struct rule *r = &c->rules[0];
	CHECK_EQ(r->action, ACT_HELPER);
	CHECK_STR(c->helpers[r->helper].name, "office");
	CHECK_STR(r->target, "127.0.0.1:22");
	r = &c->rules[3];
	CHECK_EQ(r->action, ACT_DIRECT);
	CHECK_EQ(r->rw_family, 4);
	CHECK_EQ(r->rw_port, 8443);
	CHECK_EQ(r->rw_addr[3], 8);
	r = &c->rules[5];
	CHECK_EQ(r->rw_family, 0);
	CHECK_EQ(r->rw_port, 9999);
	r = &c->rules[7];
	CHECK_EQ(r->action, ACT_HELPER);
	CHECK_STR(r->target, "");
	CHECK_STR(c->rules[1].text, "connect 203.0.113.0/24 port 80-89 deny");
	dconf_free(c);
}

static void test_defaults(void)
{
	struct dconf *c = load("# nothing but a comment\n");

	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_STR(c->guest_socket, "/run/sockout/guest.sock");
	CHECK_STR(c->control_socket, "/run/sockout/control.sock");
	CHECK_STR(c->listen_address, "0.0.0.0");
	CHECK_EQ(c->guest_mode, 0666);
	CHECK_EQ(c->connect_timeout_ms, 30000u);
	/* an empty table denies everything */
	CHECK_EQ(m(c, RULE_CONNECT, "198.51.100.2", 80), 0);
	dconf_free(c);

	c = load("guest-socket /tmp/g.sock\nguest-socket-mode 0660\n"
		 "connect-timeout 500ms\nlisten-address ::\n"
		 "connect any port any deny\n"
		 "connect 198.51.100.0/24 deny\n");
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_STR(c->guest_socket, "/tmp/g.sock");
	CHECK_EQ(c->guest_mode, 0660);
	CHECK_EQ(c->connect_timeout_ms, 500u);
	CHECK_STR(c->listen_address, "::");
	CHECK_EQ(m(c, RULE_CONNECT, "2001:db8::1", 1), 1 + 4);
	dconf_free(c);
}

static void test_masking(void)
{
	/* host bits beyond the prefix are ignored: 203.0.113.77/24 is /24 */
	struct dconf *c = load("connect 203.0.113.77/24 deny\n"
			       "connect 2001:db8::ff/120 deny\n"
			       "connect 198.51.100.1/0 direct\n");
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ(m(c, RULE_CONNECT, "203.0.113.1", 1), 1);
	CHECK_EQ(m(c, RULE_CONNECT, "2001:db8::1", 1), 2);
	CHECK_EQ(m(c, RULE_CONNECT, "2001:db8::1:1", 1), 0);
	CHECK_EQ(m(c, RULE_CONNECT, "1.1.1.1", 1), 3);
	dconf_free(c);
}

int main(void)
{
	test_match();
	test_defaults();
	test_masking();
	T_DONE();
}
