// SPDX-License-Identifier: MIT
/* conf.c - config tokenizer and error collection; see conf.h. */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void conf_error(struct conf_errors *e, const char *file, int line,
		const char *fmt, ...)
{
	char msg[1024];
	int n;
	va_list ap;

	if (line > 0)
		n = snprintf(msg, sizeof(msg), "%s:%d: ", file, line);
	else
		n = snprintf(msg, sizeof(msg), "%s: ", file);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);

	size_t add = strlen(msg);
	char *t = realloc(e->text, e->len + add + 2);
	e->count++;
	if (!t)
		return; /* the count still says it failed */
	memcpy(t + e->len, msg, add);
	e->len += add;
	t[e->len++] = '\n';
	t[e->len] = '\0';
	e->text = t;
}

void conf_errors_free(struct conf_errors *e)
{
	free(e->text);
	memset(e, 0, sizeof(*e));
}

/* Split @s in place into words; returns the count or -1 on bad quoting. */
static int tokenize(char *s, struct conf_line *l, const char **why)
{
	char *r = s, *w;

	l->argc = 0;
	for (;;) {
		while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
			r++;
		if (!*r || *r == '#')
			return l->argc;
		if (l->argc == CONF_MAX_ARGS) {
			*why = "too many words on one line";
			return -1;
		}
		w = r;
		l->argv[l->argc++] = w;
		while (*r && *r != ' ' && *r != '\t' && *r != '\r' &&
		       *r != '\n') {
			if (*r == '"') {
				r++;
				while (*r && *r != '"')
					*w++ = *r++;
				if (*r != '"') {
					*why = "unterminated quote";
					return -1;
				}
				r++;
				continue;
			}
			if (*r == '#')
				break;
			*w++ = *r++;
		}
		int end = !*r || *r == '#';
		if (*r && *r != '#')
			r++;
		*w = '\0';
		if (end)
			return l->argc;
	}
}

int conf_parse_file(const char *path, conf_line_fn fn, void *ctx,
		    struct conf_errors *e)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0;

	if (!f) {
		conf_error(e, path, 0, "cannot open: %s", strerror(errno));
		return e->count;
	}
	while (getline(&line, &cap, f) >= 0) {
		struct conf_line l = { .file = path, .line = ++lineno };
		const char *why = NULL;

		if (strlen(line) > 4096) {
			conf_error(e, path, lineno, "line too long");
			continue;
		}
		if (tokenize(line, &l, &why) < 0) {
			conf_error(e, path, lineno, "%s", why);
			continue;
		}
		if (l.argc)
			fn(ctx, &l, e);
	}
	if (ferror(f))
		conf_error(e, path, 0, "read error: %s", strerror(errno));
	free(line);
	fclose(f);
	return e->count;
}

int conf_uint(const char *s, unsigned long min, unsigned long max,
	      unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int num_suffix(const char *s, const char *const *sfx,
		      const uint64_t *mul, size_t nsfx, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	for (size_t i = 0; i < nsfx; i++) {
		if (strcasecmp(end, sfx[i]) == 0) {
			if (v > UINT64_MAX / mul[i])
				return -EINVAL;
			*out = v * mul[i];
			return 0;
		}
	}
	return -EINVAL;
}

int conf_duration_ms(const char *s, uint64_t *out)
{
	static const char *const sfx[] = { "", "s", "ms", "m", "h" };
	static const uint64_t mul[] = { 1000, 1000, 1, 60000, 3600000 };

	return num_suffix(s, sfx, mul, 5, out);
}

int conf_size(const char *s, uint64_t *out)
{
	static const char *const sfx[] = { "", "k", "m", "g" };
	static const uint64_t mul[] = { 1, 1024, 1024 * 1024,
					1024 * 1024 * 1024 };

	return num_suffix(s, sfx, mul, 4, out);
}
