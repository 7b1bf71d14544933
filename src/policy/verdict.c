// SPDX-License-Identifier: Apache-2.0
/* One verdict with policy applied: the rule for the path, then the verifier. */
#include <errno.h>
#include <string.h>

#include "signetfs/config.h"
#include "signetfs/policy.h"
#include "signetfs/state.h"
#include "signetfs/verdict.h"

static const struct verify_tsa *
tsa_for(const struct sfs_config *cfg, const char *path, struct verify_tsa *tsa);

/*
 * It lives with policy, above the verifier: it needs the config's rules
 * and the verifier, and the verifier (src/crypto) knows nothing of rules.
 */

enum verify_reason verdict_read_reason(int err)
{
	switch (err) {
	case 0:
		return VR_OK;
	case -ENOENT:
	case -EINVAL:
	case -ENAMETOOLONG:
		return VR_NO_SIG;
	case -EFBIG:
		return VR_SIG_TOO_LARGE;
	}
	return VR_IO;
}

/* RFC 3161: the TSA trust and policy where the rule applies. */

/*
 * The rule is matched once: the pins and the path binding come from the
 * same rule, and a path the matcher cannot evaluate is refused, never
 * given the global settings (policy.h).
 */
static enum verify_reason policy_step(const struct sfs_config *cfg,
				      const char *path,
				      struct verify_policy *pol)
{
	const struct sfs_rule *rule;
	int ret;

	memset(pol, 0, sizeof(*pol));
	ret = policy_match(cfg, path, &rule);
	if (ret)
		return ret == -ENAMETOOLONG ? VR_POLICY : VR_INTERNAL;
	policy_pins(cfg, rule, &pol->pins, &pol->n_pins);
	if (policy_path_binding(cfg, rule)) {
		pol->expected_path = path;
		pol->expected_path_len = strlen(path);
	}
	return VR_OK;
}

/* What both parts do before the verifier: policy first, then the .sig. */
static enum verify_reason prepare(const struct sfs_config *cfg,
				  const char *path,
				  const struct verdict_sig *sig,
				  struct verify_policy *pol,
				  struct sig_info *info)
{
	enum verify_reason r;

	memset(info, 0, sizeof(*info));
	r = policy_step(cfg, path, pol);
	return r ? r : sig->read;
}

enum verify_reason verdict_check_sig(const struct sfs_config *cfg,
				     struct sfs_verifier *v, const char *path,
				     const struct verdict_sig *sig,
				     struct sig_info *info)
{
	struct verify_policy pol;
	struct verify_tsa tsa;
	enum verify_reason r = prepare(cfg, path, sig, &pol, info);

	if (r)
		return r;
	return verifier_check_sig_tsa(v, sig->der, sig->len, &pol,
				      tsa_for(cfg, path, &tsa), info);
}

enum verify_reason verdict_check_fd(const struct sfs_config *cfg,
				    struct sfs_verifier *v, const char *path,
				    const struct verdict_sig *sig, int fd,
				    struct sig_info *info)
{
	struct verify_policy pol;
	struct verify_tsa tsa;
	enum verify_reason r = prepare(cfg, path, sig, &pol, info);

	if (r)
		return r;
	return verifier_check_fd_tsa(v, sig->der, sig->len, &pol,
				     tsa_for(cfg, path, &tsa), fd, info);
}

/*
 * RFC 3161: the TSA trust and policy where the path's rule applies
 * (matched again: prepare() has refused a path policy cannot evaluate).
 */
static const struct verify_tsa *
tsa_for(const struct sfs_config *cfg, const char *path, struct verify_tsa *tsa)
{
	const struct sfs_rule *rule = NULL;
	struct sfs_tsa_config t;

	if (policy_match(cfg, path, &rule))
		return NULL;
	policy_tsa(cfg, rule, &t);
	tsa->trust = t.trust;
	tsa->policy = t.policy;
	return tsa;
}

enum verify_reason verdict_check_version(struct state_store *st,
					 const char *path, size_t len,
					 uint64_t version, bool raise)
{
	uint64_t high = 0;
	int ret;

	if (!st)
		return VR_OK;
	if (raise) {
		ret = state_version_raise(st, path, len, version);
	} else {
		ret = state_version_get(st, path, len, &high);
		if (ret == 0 && version < high)
			ret = -ESTALE;
		else if (ret == -ENOENT)
			ret = 0;
	}
	return ret == 0 ? VR_OK : ret == -ESTALE ? VR_ROLLBACK : VR_STATE;
}
