/* SPDX-License-Identifier: MIT */
/*
 * Entry points of the sync subcommands (init/subcmd.c maps the names):
 *
 *   tenant-init sync --once            upload what changed, apply deletions
 *                                      (guarded), exit: 0 done, 75 not all
 *                                      within TENANT_FLUSH_TIMEOUT
 *   tenant-init restore [--timeout D]  the boot restore, one shot: 0 done,
 *                                      75 not done (timeout, interrupted)
 *   tenant-init sync --agent --ipc-fd N
 *                                      internal: the sync agent PID 1
 *                                      starts; its configuration arrives
 *                                      on fd N, never in argv or env
 *
 * All exit 78 for a configuration error (or sync off) and 70 for an
 * internal one.
 */
#pragma once

/* tenant-init sync ... (argv[0] is "sync"). Returns the exit code. */
int sync_cmd_sync(int argc, char **argv);

/* tenant-init restore ... (argv[0] is "restore"). */
int sync_cmd_restore(int argc, char **argv);

/* The sync agent's main: serve PID 1 on ipc_fd until told to stop. */
int sync_agent_main(int ipc_fd);
