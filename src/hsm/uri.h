/* SPDX-License-Identifier: Apache-2.0 */
/* RFC 7512 PKCS#11 URIs for the hsm layer (internal to src/hsm). */
#ifndef SIGNETFS_HSM_URI_H
#define SIGNETFS_HSM_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signetfs/util.h"

/* An RFC 7512 URI, decoded. NULL / false: attribute absent. */
struct p11_uri {
	char *token, *manufacturer, *serial, *model;
	char *lib_manufacturer, *lib_description;
	char *object;
	uint8_t *id;
	size_t id_len;
	bool has_id;
	unsigned long slot_id;
	bool has_slot_id;
	char *pin_source; /* a path ("file:" removed) */
	char *pin_value;  /* secure heap */
	char *module_path;
	char *clean; /* the URI without pin-source / pin-value */
};

/*
 * Parse TEXT into *u (cleared first). Unknown attributes are refused
 * rather than ignored, so a typo cannot select another key; vendor "x-"
 * attributes and the ones RFC 7512 lets a consumer skip are accepted.
 * pin-value goes to the secure heap. On error *u is empty, and err names
 * the attribute but never its value.
 */
int hsm_uri_parse(const char *text, struct p11_uri *u, struct sfs_error *err);
/* NULL-safe on an empty or freed *u; wipes pin-value. */
void hsm_uri_free(struct p11_uri *u);

#endif
