/* SPDX-License-Identifier: MIT */
/*
 * conf.h - the line-oriented config reader every sockout daemon uses.
 *
 * A config file is a list of lines "keyword arg arg ...".  '#' starts a
 * comment, words are separated by blanks, and "double quotes" keep blanks
 * inside a word.  Each program gives a callback that handles one line;
 * errors are collected (not just the first) as "file:line: message".
 */
#ifndef SOCKOUT_CONF_H
#define SOCKOUT_CONF_H

#include <stddef.h>
#include <stdint.h>

#define CONF_MAX_ARGS 32

struct conf_line {
	const char *file;
	int line;
	int argc;
	char *argv[CONF_MAX_ARGS];
};

struct conf_errors {
	int count;
	char *text; /* all messages, one per line, NUL-terminated */
	size_t len;
};

/** conf_error() - record "file:line: message" for @l (or just file if NULL). */
void conf_error(struct conf_errors *e, const char *file, int line,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void conf_errors_free(struct conf_errors *e);

typedef void (*conf_line_fn)(void *ctx, const struct conf_line *l,
			     struct conf_errors *e);

/**
 * conf_parse_file() - call @fn for each non-empty line of @path.
 * Problems reading the file and bad quoting are recorded in @e.
 * Returns the number of errors in @e afterwards.
 */
int conf_parse_file(const char *path, conf_line_fn fn, void *ctx,
		    struct conf_errors *e);

/** conf_uint() - parse a decimal in [min,max].  Returns 0 or -EINVAL. */
int conf_uint(const char *s, unsigned long min, unsigned long max,
	      unsigned long *out);
/** conf_duration_ms() - "500ms", "5s", "2m", or bare seconds. */
int conf_duration_ms(const char *s, uint64_t *out);
/** conf_size() - "256k", "4M", "1G" or bytes. */
int conf_size(const char *s, uint64_t *out);

#endif
