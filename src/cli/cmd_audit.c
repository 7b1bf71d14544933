// SPDX-License-Identifier: Apache-2.0
/* Placeholder until implemented. */
#include "cli.h"
#include "signetfs/util.h"

int cmd_audit(int argc, char **argv)
{
	(void)argc;
	cli_error(argv[0], "not implemented yet");
	return SFS_EXIT_USAGE;
}
