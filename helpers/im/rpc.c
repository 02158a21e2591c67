// SPDX-License-Identifier: MIT
/*
 * rpc.c - the control messages of the IM overlay, as JSON objects.
 *
 * They travel only inside a sealed envelope (crypto.c), so this decoder only
 * ever sees text an authenticated peer wrote -- it is still strict (types,
 * ranges, nesting depth, size), because a peer's helper may be buggy or
 * compromised.  Layout: docs/im.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "helpers/im/im.h"

/* Objects nest one level; allow a little slack, refuse deep garbage. */
#define RPC_MAX_DEPTH 3
/* In-band stream offsets: far beyond any real stream, exact in a JSON
 * number (2^53). */
#define RPC_OFF_MAX ((UINT64_C(1) << 53) - 1)

static const char *const names[] = {
	[RPC_CONNECT] = "connect", [RPC_ACCEPT] = "accept",
	[RPC_REFUSE] = "refuse",   [RPC_DATA] = "data",
	[RPC_ACK] = "ack",	   [RPC_SHUT] = "shut",
	[RPC_RESET] = "reset",	   [RPC_CLOSE] = "close",
};

const char *im_rpc_name(enum im_rpc_type t)
{
	if ((unsigned)t < sizeof(names) / sizeof(names[0]) && names[t])
		return names[t];
	return "?";
}

static int put(struct buf *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int put(struct buf *out, const char *fmt, ...)
{
	char tmp[160];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start above */
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EINVAL;
	return buf_append(out, tmp, (size_t)n);
}

/* A proxy JID as we carry it: a domain name, nothing to escape. */
static bool proxy_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n < 256 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789.-_") == n;
}

/* The encoder writes the JSON text itself: every value is a number, a
 * fixed word or base64/hex, so nothing needs escaping, and big data
 * chunks are not copied through a json-c object tree. */
int im_rpc_encode(const struct im_rpc *r, struct buf *out)
{
	int e = put(out, "{\"t\":\"%s\",\"c\":%u,\"o\":%d", im_rpc_name(r->type),
		    r->cid, r->opener ? 1 : 0);

	if (e)
		return e;
	switch (r->type) {
	case RPC_CONNECT:
		e = put(out, ",\"p\":%u,\"b\":%d", r->port, r->want_bs ? 1 : 0);
		if (!e && r->proxy[0] && proxy_ok(r->proxy))
			e = put(out, ",\"x\":\"%s\"", r->proxy);
		if (!e && r->name[0] && im_name_ok(r->name))
			e = put(out, ",\"h\":\"%s\"", r->name);
		break;
	case RPC_ACCEPT:
		if (r->sid[0])
			e = put(out, ",\"s\":\"%s\"", r->sid);
		break;
	case RPC_REFUSE:
	case RPC_RESET:
		e = put(out, ",\"e\":%d", r->err);
		break;
	case RPC_ACK:
		e = put(out, ",\"n\":%llu", (unsigned long long)r->n);
		break;
	case RPC_DATA: {
		size_t bl = sodium_base64_ENCODED_LEN(
			r->dlen, sodium_base64_VARIANT_ORIGINAL);
		char *p;
		if ((e = put(out, ",\"a\":%llu,\"d\":\"",
			     (unsigned long long)r->off)) < 0)
			return e;
		if (!(p = (char *)buf_reserve(out, bl)))
			return -ENOMEM;
		sodium_bin2base64(p, bl, r->data, r->dlen,
				  sodium_base64_VARIANT_ORIGINAL);
		buf_commit(out, bl - 1); /* without the NUL */
		e = buf_append(out, "\"", 1);
		break;
	}
	case RPC_SHUT:
	case RPC_CLOSE:
		e = put(out, ",\"a\":%llu", (unsigned long long)r->off);
		break;
	}
	return e ? e : buf_append(out, "}", 1);
}

static int get_uint(json_object *o, const char *k, uint64_t max, bool need,
		    uint64_t *v)
{
	json_object *x;

	if (!json_object_object_get_ex(o, k, &x))
		return need ? -EBADMSG : 0;
	if (!json_object_is_type(x, json_type_int))
		return -EBADMSG;
	errno = 0;
	int64_t i = json_object_get_int64(x);
	if (errno || i < 0 || (uint64_t)i > max)
		return -EBADMSG;
	*v = (uint64_t)i;
	return 0;
}

int im_rpc_decode(const uint8_t *p, size_t len, struct im_rpc *r,
		  uint8_t *scratch, size_t scratch_len)
{
	json_tokener *tok = NULL;
	json_object *o = NULL, *x;
	uint64_t v;
	int ret = -EBADMSG;

	memset(r, 0, sizeof(*r));
	if (len == 0 || len > IM_PLAIN_MAX)
		return -EBADMSG;
	/* json-c reads up to a NUL: an embedded one would hide the rest. */
	if (memchr(p, '\0', len))
		return -EBADMSG;
	tok = json_tokener_new_ex(RPC_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, (const char *)p, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(o, json_type_object))
		goto out;
	if (!json_object_object_get_ex(o, "t", &x) ||
	    !json_object_is_type(x, json_type_string))
		goto out;
	const char *t = json_object_get_string(x);
	for (unsigned i = 1; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(t, names[i]))
			r->type = (enum im_rpc_type)i;
	if (!r->type)
		goto out;
	if (get_uint(o, "c", UINT32_MAX, true, &v) < 0)
		goto out;
	r->cid = (uint32_t)v;
	v = 0;
	if (get_uint(o, "o", 1, true, &v) < 0)
		goto out;
	r->opener = v;
	switch (r->type) {
	case RPC_CONNECT:
		if (get_uint(o, "p", 65535, true, &v) < 0)
			goto out;
		r->port = (uint16_t)v;
		v = 0;
		if (get_uint(o, "b", 1, false, &v) < 0)
			goto out;
		r->want_bs = v;
		if (json_object_object_get_ex(o, "x", &x)) {
			if (!json_object_is_type(x, json_type_string) ||
			    !proxy_ok(json_object_get_string(x)))
				goto out;
			snprintf(r->proxy, sizeof(r->proxy), "%s",
				 json_object_get_string(x));
		}
		if (json_object_object_get_ex(o, "h", &x)) {
			if (!json_object_is_type(x, json_type_string) ||
			    !im_name_ok(json_object_get_string(x)))
				goto out;
			snprintf(r->name, sizeof(r->name), "%s",
				 json_object_get_string(x));
		}
		break;
	case RPC_ACCEPT:
		if (json_object_object_get_ex(o, "s", &x)) {
			if (!json_object_is_type(x, json_type_string))
				goto out;
			const char *s = json_object_get_string(x);
			size_t sl = strlen(s);
			if (!sl || sl >= sizeof(r->sid) ||
			    strspn(s, "0123456789abcdef") != sl)
				goto out;
			memcpy(r->sid, s, sl + 1);
		}
		break;
	case RPC_REFUSE:
	case RPC_RESET:
		if (get_uint(o, "e", 4095, true, &v) < 0 || v == 0)
			goto out;
		r->err = (int)v;
		break;
	case RPC_ACK:
		if (get_uint(o, "n", IM_INBAND_WINDOW, true, &v) < 0)
			goto out;
		r->n = v;
		break;
	case RPC_DATA: {
		if (get_uint(o, "a", RPC_OFF_MAX, true, &r->off) < 0)
			goto out;
		if (!json_object_object_get_ex(o, "d", &x) ||
		    !json_object_is_type(x, json_type_string))
			goto out;
		const char *d = json_object_get_string(x);
		size_t dl = (size_t)json_object_get_string_len(x), n;
		if (!dl || sodium_base642bin(scratch, scratch_len, d, dl, NULL,
					     &n, NULL,
					     sodium_base64_VARIANT_ORIGINAL) <
				    0 ||
		    n == 0 || n > IM_INBAND_CHUNK)
			goto out;
		r->data = scratch;
		r->dlen = n;
		break;
	}
	case RPC_SHUT:
	case RPC_CLOSE:
		if (get_uint(o, "a", RPC_OFF_MAX, true, &r->off) < 0)
			goto out;
		break;
	}
	ret = 0;
out:
	if (o)
		json_object_put(o);
	json_tokener_free(tok);
	return ret;
}
