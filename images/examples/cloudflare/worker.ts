// SPDX-License-Identifier: MIT
//
// The Worker side of one tenant per container, with tenant-init. Two ways,
// depending on the product; only what concerns tenant-init is shown.
//
// A. Cloudflare Containers (@cloudflare/containers): the image's ENTRYPOINT
//    is tenant-init, which runs as PID 1 with the environment below.
// B. Cloudflare Sandbox (@cloudflare/sandbox, what PoeClaw uses): the
//    sandbox's own control server is the container's PID 1, so tenant-init
//    is started as a background process; it then registers as a child
//    subreaper and behaves the same (reaping, sync, health, sleep).
import { Container, getContainer } from "@cloudflare/containers";
import { getSandbox } from "@cloudflare/sandbox";
export { Sandbox } from "@cloudflare/sandbox";

interface Env {
  TENANT: DurableObjectNamespace; // A
  Sandbox: DurableObjectNamespace; // B
  TENANT_DATA: R2Bucket; // the bucket tenant-init syncs to
  ENCRYPTION_SECRET: string;
  OPENCLAW_GATEWAY_TOKEN: string;
  R2_ACCESS_KEY_ID: string;
  R2_SECRET_ACCESS_KEY: string;
  CF_ACCOUNT_ID: string;
}

// What every tenant's tenant-init gets; R2_USER_PREFIX is per user.
function tenantEnv(env: Env, userHash: string): Record<string, string> {
  return {
    OPENCLAW_STATE_DIR: "/data",
    TENANT_GATEWAY_USER: "openclaw",
    SANDBOX_SLEEP_AFTER: "1h",
    ENCRYPTION_SECRET: env.ENCRYPTION_SECRET,
    OPENCLAW_GATEWAY_TOKEN: env.OPENCLAW_GATEWAY_TOKEN,
    R2_ACCESS_KEY_ID: env.R2_ACCESS_KEY_ID,
    R2_SECRET_ACCESS_KEY: env.R2_SECRET_ACCESS_KEY,
    CF_ACCOUNT_ID: env.CF_ACCOUNT_ID,
    R2_BUCKET_NAME: "moltbot-data",
    R2_USER_PREFIX: userHash,
  };
}

// At login: the user's key, encrypted exactly as PoeClaw's encryptApiKey
// does (the "poeclaw" format), stored where tenant-init restores it from
// before it decrypts: R2 under the user's prefix.
export async function storeEncryptedKey(env: Env, userHash: string, blob: string) {
  await env.TENANT_DATA.put(`users/${userHash}/openclaw/.tenant/api-key.enc`, blob);
}

// A. Cloudflare Containers: tenant-init is PID 1.
export class TenantContainer extends Container {
  defaultPort = 18789; // the OpenClaw gateway
  requiredPorts = [18789, 18790]; // gateway, tenant-init health
  pingEndpoint = "localhost:18790/readyz"; // ready = restored + gateway ready
  sleepAfter = "65m"; // a little over SANDBOX_SLEEP_AFTER: tenant-init
  // exits first, with everything flushed, and the platform never has to
  // stop a container mid-write.
}

export async function viaContainers(env: Env, userHash: string, req: Request) {
  const c = getContainer(env.TENANT, userHash);
  await c.startAndWaitForPorts({ startOptions: { envVars: tenantEnv(env, userHash) } });
  return c.fetch(req);
}

// B. Cloudflare Sandbox: tenant-init as a background process.
export async function viaSandbox(env: Env, userHash: string, req: Request) {
  const sandbox = getSandbox(env.Sandbox, userHash, { sleepAfter: "65m" });
  const running = await sandbox.listProcesses();
  if (!running.some((p: { id: string }) => p.id === "tenant-init")) {
    await sandbox.startProcess("/usr/local/sbin/tenant-init", {
      processId: "tenant-init",
      env: tenantEnv(env, userHash),
    });
  }
  // Until restored and ready, /readyz answers 503 with its reasons.
  for (let i = 0; i < 120; i++) {
    const r = await sandbox.containerFetch(new Request("http://localhost:18790/readyz"), 18790);
    if (r.status === 200) break;
    await new Promise((res) => setTimeout(res, 1000));
  }
  return sandbox.containerFetch(req, 18789);
}
