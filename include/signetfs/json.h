/* SPDX-License-Identifier: Apache-2.0 */
/* A JSON string escaper for arbitrary bytes (file names need not be UTF-8). */
#ifndef SIGNETFS_JSON_H
#define SIGNETFS_JSON_H

#include <stdbool.h>
#include <stddef.h>

struct json_buf {
	char *data;
	size_t len;
	size_t cap;
	bool oom;
};

void sfs_json_buf_free(struct json_buf *b);
void sfs_json_raw(struct json_buf *b, const char *s, size_t n);
void sfs_json_printf(struct json_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Append "s" as a JSON string: valid UTF-8 is kept, control characters and
 * quotes are escaped, and each byte of an invalid sequence becomes U+FFFD.
 * Returns whether the input was valid UTF-8 (callers add a hex form if not).
 */
bool sfs_json_str(struct json_buf *b, const char *s, size_t n);
/* Is s valid UTF-8 (no overlongs, no surrogates)? */
bool sfs_json_utf8_valid(const char *s, size_t n);

#endif
