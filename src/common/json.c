// SPDX-License-Identifier: Apache-2.0
/* JSON string escaping for records whose strings are arbitrary bytes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signetfs/json.h"

static bool reserve(struct json_buf *b, size_t more)
{
	size_t want = b->len + more + 1;
	char *p;

	if (b->oom)
		return false;
	if (want <= b->cap)
		return true;
	if (want < b->cap * 2)
		want = b->cap * 2;
	p = realloc(b->data, want);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->data = p;
	b->cap = want;
	return true;
}

void sfs_json_buf_free(struct json_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void sfs_json_raw(struct json_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void sfs_json_printf(struct json_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s, or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned int cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool sfs_json_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(p + i, n - i);

		if (!l)
			return false;
		i += l;
	}
	return true;
}

bool sfs_json_str(struct json_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	bool valid = true;

	sfs_json_raw(b, "\"", 1);
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(p + i, n - i);
		unsigned char c = p[i];

		if (l == 0) {
			sfs_json_raw(b, "\\ufffd", 6);
			valid = false;
			i++;
			continue;
		}
		if (l > 1) {
			sfs_json_raw(b, s + i, l);
		} else if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};

			sfs_json_raw(b, e, 2);
		} else if (c == '\n') {
			sfs_json_raw(b, "\\n", 2);
		} else if (c == '\t') {
			sfs_json_raw(b, "\\t", 2);
		} else if (c < 0x20 || c == 0x7f) {
			sfs_json_printf(b, "\\u%04x", c);
		} else {
			sfs_json_raw(b, s + i, 1);
		}
		i += l;
	}
	sfs_json_raw(b, "\"", 1);
	return valid;
}
