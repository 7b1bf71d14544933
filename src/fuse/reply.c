// SPDX-License-Identifier: Apache-2.0
/* Replies both mounts make the same way. */
#include <errno.h>

#include "sfuse.h"

void sfuse_reply_xattr(fuse_req_t req, const void *val, ssize_t len,
		       size_t size)
{
	if (len < 0)
		fuse_reply_err(req, (int)-len);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)len); /* the size asked for */
	else if ((size_t)len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, (size_t)len); /* also when empty */
}

void sfuse_reply_entry(fuse_req_t req, int ret,
		       const struct fuse_entry_param *e)
{
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, e);
}
