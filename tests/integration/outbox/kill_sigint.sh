#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# 20 writers that do not catch SIGINT (cp, cat, head; dd catches it and
# closes its files itself, which no filesystem can tell from a normal
# close) interrupted at a random point: no valid signature, ever. A few
# SIGTERM trials too (128 MiB). 256 MiB per SIGINT file (OB_KILL_MIB=1024
# for 1 GiB); the kill comes in the first half of the copy.
. "$(dirname "$0")/common.sh"
ob_start
ob_kill_trials INT 20 "${OB_KILL_MIB:-256}" cp cat head
ob_kill_trials TERM 4 128 cp cat
ob_stop
ob_audit_verify
