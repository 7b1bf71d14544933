// SPDX-License-Identifier: Apache-2.0
/* Placeholder until implemented. */
#include "signetfs/fs.h"

int inbox_main(const struct sfs_config *cfg, const struct sfs_mount_args *a)
{
	(void)cfg;
	(void)a;
	return SFS_EXIT_USAGE;
}
