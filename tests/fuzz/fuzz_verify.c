// SPDX-License-Identifier: Apache-2.0
/* libFuzzer: arbitrary bytes as a .sig through verifier_check_sig_tsa. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signetfs/log.h"
#include "signetfs/util.h"
#include "signetfs/verify.h"

#define EXPECTED_PATH "dir/hello.txt"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sfs_verifier *verifier;
static const char tsa_ca[] = SFS_FUZZ_DATA "/tsa-ca.pem";

/*
 * The trust store holds the golden v1 CA and the CA of the seed corpus
 * (tests/fuzz/data/ca.pem, made by tests/fuzz/mkcorpus.sh), so seeds
 * reach the signature, chain and path checks, not only the parser. The
 * TSA trust store is the CA of the golden v1-tsa fixture, so its seed's
 * token reaches rules T2-T9 (an RFC 3161 token is parsed only when a TSA
 * trust store is configured).
 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *ca = getenv("FUZZ_CA");
	struct sfs_trust_config t = {0};
	struct sfs_error err = {0};

	(void)argc;
	(void)argv;
	t.cafile = (char *)(ca ? ca : SFS_FUZZ_DATA "/ca.pem");
	sfs_log_set_level(SFS_LOG_ERR);
	if (verifier_new(&t, &verifier, &err) ||
	    verifier_add_tsa(verifier, tsa_ca, &err)) {
		fprintf(stderr, "fuzz_verify: %s\n", err.msg);
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct verify_policy pol = {
	    .expected_path = EXPECTED_PATH,
	    .expected_path_len = strlen(EXPECTED_PATH),
	};
	struct verify_tsa tsa = {.trust = tsa_ca};
	struct sig_info info;
	enum verify_reason r;

	memset(&info, 0, sizeof(info));
	r = verifier_check_sig_tsa(verifier, data, size, &pol, &tsa, &info);
	if ((unsigned)r >= VR_COUNT_ || !verify_reason_str(r) ||
	    !verify_reason_name(r))
		abort();
	/* Accepted means bound to the served path, as the inbox relies on. */
	if (r == VR_OK &&
	    (!info.path || info.path_len != strlen(EXPECTED_PATH) ||
	     memcmp(info.path, EXPECTED_PATH, info.path_len) ||
	     sfs_path_check(info.path, info.path_len) ||
	     info.digest.len != sfs_md_len(info.digest.alg)))
		abort();
	sig_info_clear(&info);
	return 0;
}
