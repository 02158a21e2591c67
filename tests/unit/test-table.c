// SPDX-License-Identifier: MIT
/* Unit tests of sockoutd's configuration errors: every error reported, each
 * as "file:line: message: `value'". */
#include <stdlib.h>
#include <unistd.h>

#include "../../dispatcher/table.c"
#include "t.h"

static char path[64];

/* Parse @text; returns the error text (malloc'ed) or NULL if it loaded. */
static char *errors_of(const char *text, int *count)
{
	int fd;
	struct conf_errors e = { 0 };
	struct dconf *c = NULL;
	char *r = NULL;

	strcpy(path, "/tmp/test-table.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return strdup("cannot write temp file");
	close(fd);
	int rc = dconf_load(path, &c, &e);
	*count = e.count;
	if (rc == 0) {
		CHECK(c != NULL);
		CHECK_EQ(e.count, 0);
		dconf_free(c);
	} else {
		CHECK(c == NULL);
		r = strdup(e.text ? e.text : "");
	}
	conf_errors_free(&e);
	unlink(path);
	return r;
}

/* Does the error text hold "PATH:LINE: MSG"? */
static int has(const char *errs, int line, const char *msg)
{
	char want[512];

	snprintf(want, sizeof(want), "%s:%d: %s\n", path, line, msg);
	if (errs && strstr(errs, want))
		return 1;
	fprintf(stderr, "missing: %swithin:\n%s", want, errs ? errs : "(none)\n");
	return 0;
}

static void test_all_errors(void)
{
	int n;
	char *e = errors_of(
		"helper office data /run/o.data event /run/o.event\n"	/* 1 */
		"helper office data /run/x.data event /run/x.event\n"	/* 2 */
		"connect 203.0.113.0/33 deny\n"				/* 3 */
		"connect 203.0.113.300 deny\n"				/* 4 */
		"connect port 90-80 deny\n"				/* 5 */
		"connect port 0 deny\n"					/* 6 */
		"connect port 22 helper nosuch\n"			/* 7 */
		"connect port 22\n"					/* 8 */
		"frobnicate yes\n"					/* 9 */
		"accept port 80 direct 70000\n"				/* 10 */
		"connect any deny now\n"				/* 11 */
		"helper home data /run/h.data\n"			/* 12 */
		"connect-timeout soon\n"				/* 13 */
		"guest-socket relative.sock\n"				/* 14 */
		"connect port 22 helper office from x\n"		/* 15 */
		"guest-socket-mode 999\n"				/* 16 */
		"listen-address example.org\n"				/* 17 */
		"connect deny\n"					/* 18 */
		"connect 2001:db8::/129 deny\n"				/* 19 */
		"helper\n"						/* 20 */
		"connect \"unterminated\n",				/* 21 */
		&n);
	CHECK(e != NULL);
	CHECK(has(e, 2, "duplicate helper (first declared on line 1): `office'"));
	CHECK(has(e, 3, "bad address or CIDR: `203.0.113.0/33'"));
	CHECK(has(e, 4, "bad address or CIDR: `203.0.113.300'"));
	CHECK(has(e, 5, "port range reversed: `90-80'"));
	CHECK(has(e, 6, "bad port: `0'"));
	CHECK(has(e, 7, "unknown helper: `nosuch'"));
	CHECK(has(e, 8, "missing action (deny, direct, helper NAME): `22'"));
	CHECK(has(e, 9, "unknown keyword: `frobnicate'"));
	CHECK(has(e, 10, "bad direct destination (PORT or ADDR:PORT): `70000'"));
	CHECK(has(e, 11, "deny takes no argument: `now'"));
	CHECK(has(e, 12, "helper needs both data and event sockets: `home'"));
	CHECK(has(e, 13, "bad duration (e.g. 30s, 500ms; up to 1h): `soon'"));
	CHECK(has(e, 14, "socket path must be absolute and under 108 bytes: `relative.sock'"));
	CHECK(has(e, 15, "expected `to TARGET' after the helper name: `from'"));
	CHECK(has(e, 16, "bad mode (octal, owner must read and write): `999'"));
	CHECK(has(e, 17, "bad listen address: `example.org'"));
	CHECK(has(e, 18, "missing match (any, ADDR[/LEN], port N[-M]): `connect'"));
	CHECK(has(e, 19, "bad address or CIDR: `2001:db8::/129'"));
	CHECK(has(e, 20, "missing helper name (helper NAME data PATH event PATH): `helper'"));
	CHECK(has(e, 21, "unterminated quote"));
	CHECK_EQ(n, 20);
	free(e);
}

static void test_ok_and_missing_file(void)
{
	int n;
	char *e = errors_of("connect any direct\n", &n);

	CHECK(e == NULL);
	CHECK_EQ(n, 0);

	struct conf_errors ce = { 0 };
	struct dconf *c = NULL;
	CHECK_EQ(dconf_load("/nonexistent/sockoutd.conf", &c, &ce), -EINVAL);
	CHECK(c == NULL);
	CHECK(ce.text && strstr(ce.text, "/nonexistent/sockoutd.conf: cannot open: "));
	conf_errors_free(&ce);

	/* a helper may be declared after the rules that use it */
	e = errors_of("connect port 22 helper late to x\n"
		      "helper late data /run/l.data event /run/l.event\n", &n);
	CHECK(e == NULL);
	/* settings given twice */
	e = errors_of("connect-timeout 5s\nconnect-timeout 6s\n", &n);
	CHECK(e && has(e, 2, "connect-timeout already set on line 1: `6s'"));
	free(e);
	/* a target that is too long */
	char big[600] = "helper h data /a event /b\nconnect any helper h to ";
	size_t l = strlen(big);
	memset(big + l, 'x', 300);
	strcpy(big + l + 300, "\n");
	e = errors_of(big, &n);
	CHECK(e && strstr(e, ":2: target empty or longer than 255 bytes: `xxx"));
	free(e);
}

int main(void)
{
	test_all_errors();
	test_ok_and_missing_file();
	T_DONE();
}
