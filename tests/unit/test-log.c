// SPDX-License-Identifier: MIT
/* Unit tests of common/log.c's rate limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/log.h"
#include "t.h"

/* Run the ask with stderr captured into @out. */
static bool captured(struct ratelimit *rl, unsigned burst, char *out, size_t len)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	bool r;

	if (!f || saved < 0)
		abort();
	fflush(stderr);
	dup2(fileno(f), STDERR_FILENO);
	r = ratelimit_burst(rl, burst);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	size_t n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
	return r;
}

static void test_once(void)
{
	uint64_t last = 0;

	CHECK(ratelimit(&last));
	CHECK(last != 0);
	CHECK(!ratelimit(&last));
	CHECK(!ratelimit(&last));
	last -= RATELIMIT_MS; /* as if 10 s went by */
	CHECK(ratelimit(&last));
	CHECK(!ratelimit(&last));
}

static void test_burst(void)
{
	struct ratelimit rl = { 0 };
	char out[256];
	int yes = 0;

	for (int i = 0; i < 100; i++)
		yes += ratelimit_burst(&rl, 5);
	CHECK_EQ(yes, 5);
	CHECK_EQ(rl.suppressed, 95ul);
	/* the next interval: the count of the suppressed ones comes first */
	rl.since -= RATELIMIT_MS;
	CHECK(captured(&rl, 5, out, sizeof(out)));
	CHECK(strstr(out, "(95 similar messages suppressed)") != NULL);
	CHECK_EQ(rl.suppressed, 0ul);
	/* nothing suppressed in an interval: nothing said about it */
	rl.since -= RATELIMIT_MS;
	CHECK(captured(&rl, 5, out, sizeof(out)));
	CHECK_STR(out, "");
}

int main(void)
{
	log_init("test-log", 0);
	test_once();
	test_burst();
	T_DONE();
}
