// SPDX-License-Identifier: Apache-2.0
/* libFuzzer: sfs_json_str output is strict JSON that decodes back to its input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signetfs/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, <= U+10FFFF. */
static size_t utf8_len(const uint8_t *s, size_t n, uint32_t *cp)
{
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	len = (s[0] & 0xe0) == 0xc0   ? 2
	      : (s[0] & 0xf0) == 0xe0 ? 3
	      : (s[0] & 0xf8) == 0xf0 ? 4
				      : 0;
	if (!len || n < len)
		return 0;
	*cp = s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if (*cp < min[len] || *cp > 0x10ffff ||
	    (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

static bool utf8_ok(const uint8_t *s, size_t n)
{
	uint32_t cp;

	for (size_t i = 0, l; i < n; i += l)
		if (!(l = utf8_len(s + i, n - i, &cp)))
			return false;
	return true;
}

static size_t put_utf8(uint8_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xc0 | cp >> 6);
		o[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (uint8_t)(0xe0 | cp >> 12);
		o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (uint8_t)(0xf0 | cp >> 18);
	o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

static int hex4(const char *s, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/*
 * A strict RFC 8259 string parser: exactly one string, no raw control
 * characters, only the standard escapes, \u surrogates paired. Decodes
 * into out (at most 4 bytes per input byte). Returns the decoded length
 * or -1.
 */
static long json_decode(const char *s, size_t n, uint8_t *out)
{
	size_t o = 0, i = 1;

	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return -1;
	while (i < n - 1) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp, lo;

		if (c < 0x20 || c == '"')
			return -1;
		if (c != '\\') {
			out[o++] = c;
			i++;
			continue;
		}
		if (i + 1 >= n - 1)
			return -1;
		switch (s[i + 1]) {
		case '"':
		case '\\':
		case '/':
			out[o++] = (uint8_t)s[i + 1];
			break;
		case 'b':
			out[o++] = '\b';
			break;
		case 'f':
			out[o++] = '\f';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 'r':
			out[o++] = '\r';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'u':
			if (i + 6 > n - 1 || hex4(s + i + 2, &cp))
				return -1;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return -1;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (i + 12 > n - 1 || s[i + 6] != '\\' ||
				    s[i + 7] != 'u' || hex4(s + i + 8, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return -1;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
				i += 6;
			}
			o += put_utf8(out + o, cp);
			i += 4;
			break;
		default:
			return -1;
		}
		i += 2;
	}
	return (long)o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_buf b = {0};
	bool valid = sfs_json_str(&b, (const char *)data, size);
	uint8_t *dec;
	long n;

	if (b.oom)
		goto out;
	/* The validity answer agrees with an independent strict check. */
	if (valid != utf8_ok(data, size) ||
	    valid != sfs_json_utf8_valid((const char *)data, size))
		abort();
	/* Output: valid UTF-8, no raw control characters or DEL. */
	if (!utf8_ok((const uint8_t *)b.data, b.len) || strlen(b.data) != b.len)
		abort();
	for (size_t i = 0; i < b.len; i++)
		if ((unsigned char)b.data[i] < 0x20 || b.data[i] == 0x7f)
			abort();
	dec = malloc(b.len * 4 + 1);
	if (!dec)
		abort();
	n = json_decode(b.data, b.len, dec);
	if (n < 0)
		abort();
	/* Valid input round-trips exactly; invalid still decodes to UTF-8. */
	if (valid && ((size_t)n != size || memcmp(dec, data, size)))
		abort();
	if (!utf8_ok(dec, (size_t)n))
		abort();
	free(dec);
out:
	sfs_json_buf_free(&b);
	return 0;
}
