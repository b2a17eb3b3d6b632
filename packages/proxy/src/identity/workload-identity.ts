/**
 * The workload's identity from `--identity-dir`: `cert.pem` (leaf first, then any intermediates),
 * `key.pem`, `root-cert.pem` (the trust bundle; several roots allowed). Files are checked as a
 * set — the key matches the leaf, the leaf chains to a root, it is valid now, and it names exactly
 * one SPIFFE ID — and re-read on change: a rotation to a broken or half-written set keeps the
 * last good identity and reports why (`/config_dump`), so requests never see a broken one.
 * Keys are never part of anything this module describes.
 */
import { createHash, createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseSpiffeId, type SpiffeIdentity, uriSans } from "./spiffe.js";

export class IdentityError extends Error {}

export interface WorkloadCert {
  certPem: string;
  keyPem: string;
  rootPem: string;
  spiffeId: string;
  identity: SpiffeIdentity;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the leaf, colon-separated hex (as openssl prints it). */
  fingerprint256: string;
  /** Hash of the three files' contents: a change of any of them is a rotation. */
  digest: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function certs(pem: string, file: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new IdentityError(`${file}: no PEM certificate in it`);
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    throw new IdentityError(`${file}: not a valid certificate (${(err as Error).message})`);
  }
}

function read(dir: string, name: string): string {
  const file = join(dir, name);
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new IdentityError(
      `${file}: ${e.code === "ENOENT" ? "missing" : `unreadable (${e.code ?? e.message})`}`,
    );
  }
}

/** Loads and checks the identity files in `dir`; throws IdentityError with one line. */
export function loadWorkloadCert(dir: string, now = Date.now()): WorkloadCert {
  const certPem = read(dir, "cert.pem");
  const keyPem = read(dir, "key.pem");
  const rootPem = read(dir, "root-cert.pem");
  const chain = certs(certPem, join(dir, "cert.pem"));
  const roots = certs(rootPem, join(dir, "root-cert.pem"));
  const leaf = chain[0]!;
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new IdentityError(`${join(dir, "key.pem")}: not a valid private key (${(err as Error).message})`);
  }
  if (!leaf.checkPrivateKey(key)) throw new IdentityError(`${join(dir, "key.pem")} does not match cert.pem`);
  // The leaf chains through cert.pem's intermediates (in order) to one of the roots.
  let cur = leaf;
  for (const next of chain.slice(1)) {
    if (!cur.verify(next.publicKey)) throw new IdentityError(`${join(dir, "cert.pem")}: the chain is broken`);
    cur = next;
  }
  if (!roots.some((r) => cur.verify(r.publicKey)))
    throw new IdentityError(`${join(dir, "cert.pem")} is not signed by any root in root-cert.pem`);
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (now < notBefore.getTime())
    throw new IdentityError(`${join(dir, "cert.pem")} is not valid before ${notBefore.toISOString()}`);
  if (now > notAfter.getTime())
    throw new IdentityError(`${join(dir, "cert.pem")} expired at ${notAfter.toISOString()}`);
  const ids = uriSans(leaf.subjectAltName).filter((u) => u.startsWith("spiffe://"));
  if (ids.length !== 1)
    throw new IdentityError(
      `${join(dir, "cert.pem")}: want exactly one spiffe:// URI SAN, found ${ids.length}`,
    );
  const identity = parseSpiffeId(ids[0]!);
  if (!identity)
    throw new IdentityError(
      `${join(dir, "cert.pem")}: "${ids[0]}" is not spiffe://<trust-domain>/ns/<ns>/sa/<sa>`,
    );
  const digest = createHash("sha256").update(certPem).update(keyPem).update(rootPem).digest("hex");
  return {
    certPem,
    keyPem,
    rootPem,
    spiffeId: ids[0]!,
    identity,
    notBefore,
    notAfter,
    fingerprint256: leaf.fingerprint256,
    digest,
  };
}

/** What `/config_dump` shows of the identity: never a key. */
export interface IdentityStatus {
  dir: string;
  spiffeId: string;
  notBefore: string;
  notAfter: string;
  fingerprint256: string;
  loadedAt: string;
  rotations: number;
  lastError: string | null;
}

/** What a watcher asks of every identity it takes, at start and on each rotation. */
export interface WatchOptions {
  /** Why `c` must not be used (another trust domain, another service account), or undefined. */
  accept?: (c: WorkloadCert) => string | undefined;
  /** A rotation was refused: called once per distinct reason, when it persists over two polls. */
  warn?: (msg: string) => void;
  /** A new identity was taken. */
  info?: (msg: string) => void;
}

/** Loads the files and applies the watcher's own checks; throws IdentityError (one line). */
function loadAccepted(dir: string, o: WatchOptions, now?: number): WorkloadCert {
  const c = loadWorkloadCert(dir, now);
  const why = o.accept?.(c);
  if (why) throw new IdentityError(`${join(dir, "cert.pem")}: ${why}`);
  return c;
}

/**
 * Watches `dir` (polling, which also sees Kubernetes' atomic `..data` symlink swaps) and keeps
 * the last good identity. `onRotate` runs after a new good set is loaded. A plain rewrite of the
 * files is briefly inconsistent (new cert, old key): that is reported in the status at once but
 * warned about in the log only if the next poll still sees it, so a normal rewrite stays quiet.
 */
export class IdentityWatcher {
  current: WorkloadCert;
  private loadedAt = new Date();
  private rotations = 0;
  private lastError: string | null = null;
  /** The failure of the previous poll, and the last one warned about (each warned once). */
  private pendingError: string | undefined;
  private warned: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** Throws IdentityError (one line) when the files are not a valid identity at start. */
  constructor(
    readonly dir: string,
    private readonly onRotate: (c: WorkloadCert) => void = () => {},
    private readonly pollMs = 1000,
    private readonly opts: WatchOptions = {},
  ) {
    this.current = loadAccepted(dir, opts);
  }

  start(): void {
    this.timer ??= setInterval(() => this.check(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Re-reads the files; returns true when a new identity was taken. */
  check(now = Date.now()): boolean {
    let next: WorkloadCert;
    try {
      next = loadAccepted(this.dir, this.opts, now);
    } catch (err) {
      const msg = (err as Error).message;
      // A set that is not valid yet is reported, and the last good one keeps serving.
      this.lastError = `${new Date(now).toISOString()} ${msg}; still serving ${this.current.fingerprint256}`;
      if (msg === this.pendingError && msg !== this.warned) {
        this.warned = msg;
        this.opts.warn?.(
          `identity in ${this.dir} not rotated: ${msg}; still serving ${this.current.spiffeId} (${this.current.fingerprint256})`,
        );
      }
      this.pendingError = msg;
      return false;
    }
    this.pendingError = undefined;
    this.warned = undefined;
    if (next.digest === this.current.digest) {
      this.lastError = null; // the files are back to the identity in use
      return false;
    }
    this.current = next;
    this.lastError = null;
    this.loadedAt = new Date(now);
    this.rotations++;
    this.onRotate(next);
    this.opts.info?.(
      `identity rotated: ${next.spiffeId} (${next.fingerprint256}), valid until ${next.notAfter.toISOString()}`,
    );
    return true;
  }

  status(): IdentityStatus {
    const c = this.current;
    return {
      dir: this.dir,
      spiffeId: c.spiffeId,
      notBefore: c.notBefore.toISOString(),
      notAfter: c.notAfter.toISOString(),
      fingerprint256: c.fingerprint256,
      loadedAt: this.loadedAt.toISOString(),
      rotations: this.rotations,
      lastError: this.lastError,
    };
  }
}
