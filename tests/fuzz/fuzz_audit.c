// SPDX-License-Identifier: Apache-2.0
/* libFuzzer: arbitrary bytes as an audit log through audit_verify_file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "signetfs/audit.h"
#include "signetfs/log.h"
#include "signetfs/verify.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sfs_verifier *v;
static char dir[] = "/tmp/fuzz-audit-XXXXXX";
static char path[96];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sfs_trust_config tc = {.cafile = SFS_FUZZ_DATA "/ca.pem"};
	struct sfs_error err = {0};

	(void)argc;
	(void)argv;
	sfs_log_set_level(SFS_LOG_ERR);
	if (verifier_new(&tc, &v, &err) != 0 || !mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_verify_result res;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r1, r2;

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	r1 = audit_verify_file(path, v, false, &res);
	/* Invariants: a verdict, a line inside the log, and a reason. */
	if (r1 < 0 || r1 > 1)
		abort();
	if (r1 == 1 && (res.bad_line == 0 || res.bad_line > res.lines + 1 ||
			!res.reason[0]))
		abort();
	if (r1 == 0 && (!res.sealed || res.bad_line != 0))
		abort();
	/* --live only relaxes the ending: it never rejects what strict took. */
	r2 = audit_verify_file(path, v, true, &res);
	if (r1 == 0 && r2 != 0)
		abort();
	return 0;
}
