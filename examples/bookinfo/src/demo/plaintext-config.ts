/**
 * `pnpm demo --no-mtls`: the shared config with mutual TLS switched off, as a user would switch
 * it off in Istio — DestinationRule `tls.mode: DISABLE` instead of ISTIO_MUTUAL — written into a
 * folder of its own (the checked-in files stay as they are); the runner leaves out
 * `config/security` (the STRICT PeerAuthentication). Everything else is the same bytes, so routing
 * and lanes are identical.
 */
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CONFIG_DIRS, exampleFile } from "../topology.js";

/** The file and the exact text mTLS is switched off in; each must be found (the config changed otherwise). */
export const MTLS_SWITCHES: readonly { file: string; on: string; off: string }[] = [
  { file: "destination-rules.yaml", on: "tls: { mode: ISTIO_MUTUAL }", off: "tls: { mode: DISABLE }" },
];

/** Copies `config/shared` to `dest` with mTLS off; returns `dest`. */
export function writePlaintextConfig(dest: string): string {
  cpSync(exampleFile(CONFIG_DIRS.shared), dest, { recursive: true });
  for (const s of MTLS_SWITCHES) {
    const file = join(dest, s.file);
    const text = readFileSync(file, "utf8");
    if (!text.includes(s.on))
      throw new Error(
        `${CONFIG_DIRS.shared}/${s.file} has no "${s.on}" to switch off (the demo config changed)`,
      );
    writeFileSync(file, text.replaceAll(s.on, s.off));
  }
  return dest;
}
