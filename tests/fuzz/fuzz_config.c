// SPDX-License-Identifier: Apache-2.0
/* libFuzzer: arbitrary bytes as signetfs.conf through config_load. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "signetfs/config.h"
#include "signetfs/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char dir[] = "/tmp/fuzz-config-XXXXXX";
static char path[96];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

/*
 * One file, rewritten per input. Not a memfd: config_load realpath()s its
 * argument, and /proc/self/fd/N resolves to "/memfd:... (deleted)".
 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	sfs_log_set_level(SFS_LOG_ERR);
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/signetfs.conf", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	atexit(cleanup);
	return 0;
}

static void check(const struct sfs_config *c)
{
	/* What config_load promises its callers. */
	if (!c->path || (c->n_pins && !c->pins) ||
	    (c->n_writer_uids && !c->writer_uids) ||
	    (c->n_writer_gids && !c->writer_gids) ||
	    (c->mode != SFS_MODE_STRICT && c->mode != SFS_MODE_AUDIT) ||
	    (unsigned)c->key.md > SFS_MD_SHA512)
		abort();
	for (size_t i = 0; i < c->n_writer_uids; i++)
		(void)*(volatile uint32_t *)&c->writer_uids[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sfs_config *c = NULL;
	struct sfs_error err;

	if (ftruncate(fd, 0) < 0 ||
	    (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	memset(&err, 0, sizeof(err));
	if (config_load(path, &c, &err) == 0) {
		check(c);
		config_free(c);
	} else if (c || !err.msg[0] ||
		   !memchr(err.msg, '\0', sizeof(err.msg))) {
		/* A failure leaves nothing allocated and says why. */
		abort();
	}
	return 0;
}
