/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 3161 tokens for what the outbox signs (outbox_stamp.c): a close
 * never waits for the TSA. The .sig is installed as always, then queued;
 * one background thread sends the queue in batches (several requests in
 * flight), adds each token under the file's lock if its .sig is still the
 * one that was queued, and retries with backoff while the TSA is down.
 */
#ifndef SIGNETFS_OUTBOX_OB_STAMP_H
#define SIGNETFS_OUTBOX_OB_STAMP_H

#include <stddef.h>
#include <stdint.h>

#include "backing.h"

struct outbox;

/* At most this many signatures wait for a token; more are not queued. */
#define OB_STAMP_QUEUE_MAX 100000
/* Signatures per batch: the TSA client keeps tsa-parallel in flight. */
#define OB_STAMP_BATCH 256
/* Retry delays while the TSA fails: doubling from the first to the last. */
#define OB_STAMP_BACKOFF_MIN_MS 1000
#define OB_STAMP_BACKOFF_MAX_MS 60000

/* Start the stamper thread (after the config and audit log are set up). */
int ob_stamper_start(struct outbox *ob);
/*
 * Stop it within ~100 ms (requests in flight are abandoned); what is
 * still queued gets a timestamp-failed record each. Before the audit log
 * is closed.
 */
void ob_stamper_stop(struct outbox *ob);
/*
 * REL.sig (der) was just installed: queue it when a tsa-url applies to
 * REL. Never blocks on the network. The caller has the config pinned.
 */
void ob_stamp_enqueue(struct outbox *ob, const char *rel, const uint8_t *der,
		      size_t len);
/*
 * After "signed" in user.signetfs.status: ", timestamped TIME" when the
 * .sig carries a token, ", not timestamped yet (...)" when a tsa-url
 * applies and it has none. Caller holds i->lock.
 */
void ob_stamp_status(struct outbox *ob, struct bk_inode *i, char *out,
		     size_t len);

#endif
