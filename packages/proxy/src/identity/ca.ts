/**
 * A small file-based certificate authority for laptops, docker-compose and tests (`lanecar ca`):
 * `initCa` writes a self-signed root for a trust domain, `issueWorkload` writes a workload's
 * short-lived certificate with its SPIFFE ID as the only (critical) URI SAN, its key and the
 * root — the three files `--identity-dir` reads. In Kubernetes certificates come from
 * cert-manager instead (deploy/kubernetes), so no home-made CA runs in a cluster.
 *
 * Keys are ECDSA P-256 with SHA-256 signatures (Istio's CA issues RSA 2048 by default; P-256 is
 * as widely supported and far cheaper to handshake with); keys are written mode 0600. The
 * certificates are built with der.ts and signed with node:crypto — no third-party PKI code.
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  bits,
  bool,
  explicit,
  namedBits,
  octets,
  oid,
  readTlv,
  seq,
  set,
  time,
  tlv,
  uint,
  utf8,
} from "./der.js";
import {
  checkIdentityParts,
  DEFAULT_TRUST_DOMAIN,
  formatSpiffeId,
  type SpiffeIdentity,
  uriSans,
} from "./spiffe.js";

const ROOT_CERT = "root-cert.pem";
const ROOT_KEY = "root-key.pem";
/** Roots live ten years; workloads as long as asked (default 24 h), never past their root. */
const ROOT_TTL_MS = 10 * 365 * 24 * 3600 * 1000;
/** Validity starts a little in the past so peers with a skewed clock accept a fresh cert. */
const BACKDATE_MS = 5 * 60 * 1000;

const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));
const KU = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 };

export class CaError extends Error {}

function name(trustDomain: string): Buffer {
  return seq(set(seq(oid("2.5.4.10"), utf8(trustDomain))), set(seq(oid("2.5.4.3"), utf8("Lanecar root CA"))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subject public key (the EC point). */
function keyId(pub: KeyObject): Buffer {
  const jwk = pub.export({ format: "jwk" });
  const point = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x!, "base64url"),
    Buffer.from(jwk.y!, "base64url"),
  ]);
  return createHash("sha1").update(point).digest();
}

interface CertSpec {
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  signingKey: KeyObject;
  extensions: Buffer[];
}

function buildCert(s: CertSpec): string {
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const tbs = seq(
    explicit(0, uint(2)),
    uint(serial),
    ECDSA_SHA256,
    s.issuer,
    seq(time(s.notBefore), time(s.notAfter)),
    s.subject,
    s.publicKey.export({ type: "spki", format: "der" }),
    explicit(3, seq(...s.extensions)),
  );
  const signature = sign("sha256", tbs, { key: s.signingKey, dsaEncoding: "der" });
  const der = seq(tbs, ECDSA_SHA256, bits(signature));
  const b64 = der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd();
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** The subject Name of a certificate, as DER (to name it as issuer byte for byte). */
function subjectOf(cert: X509Certificate): Buffer {
  const raw = cert.raw;
  const outer = readTlv(raw, 0);
  const tbs = readTlv(raw, outer.start);
  let at = tbs.start;
  const fields: Buffer[] = [];
  while (at < tbs.end && fields.length < 7) {
    const f = readTlv(raw, at);
    fields.push(raw.subarray(at, f.end));
    at = f.end;
  }
  // version [0], serial, signature, issuer, validity, subject
  const hasVersion = fields[0]![0] === 0xa0;
  return fields[hasVersion ? 5 : 4]!;
}

function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
}

/** Creates `root-cert.pem` and `root-key.pem` in `dir` (never overwrites an existing root). */
export function initCa(dir: string, trustDomain = DEFAULT_TRUST_DOMAIN, now = Date.now()): string {
  const bad = checkIdentityParts({ trustDomain, namespace: "default", serviceAccount: "default" });
  if (bad) throw new CaError(bad);
  if (existsSync(join(dir, ROOT_KEY)))
    throw new CaError(`${join(dir, ROOT_KEY)} exists; not overwriting a root`);
  mkdirSync(dir, { recursive: true });
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const subject = name(trustDomain);
  const pem = buildCert({
    issuer: subject,
    subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + ROOT_TTL_MS),
    publicKey,
    signingKey: privateKey,
    extensions: [
      extension("2.5.29.19", true, seq(bool(true), uint(0))),
      extension("2.5.29.15", true, namedBits([KU.keyCertSign, KU.cRLSign])),
      extension("2.5.29.14", false, octets(keyId(publicKey))),
      extension("2.5.29.17", false, seq(tlv(0x86, Buffer.from(`spiffe://${trustDomain}`, "latin1")))),
    ],
  });
  writeFileSync(join(dir, ROOT_CERT), pem);
  writeSecret(join(dir, ROOT_KEY), privateKey.export({ type: "pkcs8", format: "pem" }) as string);
  return join(dir, ROOT_CERT);
}

export interface IssueOptions {
  namespace: string;
  serviceAccount: string;
  ttlMs: number;
  now?: number;
  /**
   * Programmatic only (tests of bad peers; the CLI never sets them): an exact validity window
   * (epoch ms, no backdating, not clamped to the root), and a trust domain other than the
   * root's — what a misconfigured or compromised CA would issue.
   */
  notBefore?: number;
  notAfter?: number;
  trustDomain?: string;
}

/** Writes `cert.pem`, `key.pem`, `root-cert.pem` for one workload into `out`; returns its SPIFFE ID. */
export function issueWorkload(caDir: string, out: string, o: IssueOptions): string {
  const now = o.now ?? Date.now();
  if (!(o.ttlMs > 0)) throw new CaError("the TTL must be positive");
  let rootPem: string;
  let rootKeyPem: string;
  try {
    rootPem = readFileSync(join(caDir, ROOT_CERT), "utf8");
    rootKeyPem = readFileSync(join(caDir, ROOT_KEY), "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CaError(`cannot read the CA in ${caDir} (${e.code ?? e.message}); run lanecar ca init first`);
  }
  let root: X509Certificate;
  let rootKey: KeyObject;
  try {
    root = new X509Certificate(rootPem);
    rootKey = createPrivateKey(rootKeyPem);
  } catch (err) {
    throw new CaError(`${caDir} does not hold a valid root certificate and key (${(err as Error).message})`);
  }
  const rootTd = uriSans(root.subjectAltName)
    .map((u) => /^spiffe:\/\/([^/]+)$/.exec(u)?.[1])
    .find(Boolean);
  if (!rootTd)
    throw new CaError(`${join(caDir, ROOT_CERT)} is not a Lanecar root (no spiffe://<trust-domain> URI SAN)`);
  const td = o.trustDomain ?? rootTd;
  const id: SpiffeIdentity = { trustDomain: td, namespace: o.namespace, serviceAccount: o.serviceAccount };
  const bad = checkIdentityParts(id);
  if (bad) throw new CaError(bad);
  const spiffe = formatSpiffeId(id);
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = leafCert({
    issuer: subjectOf(root),
    subject: seq(), // empty: the SPIFFE ID in the critical SAN is the name (RFC 5280 4.2.1.6)
    notBefore: new Date(o.notBefore ?? now - BACKDATE_MS),
    notAfter: new Date(o.notAfter ?? Math.min(now + o.ttlMs, new Date(root.validTo).getTime())),
    publicKey,
    signingKey: rootKey,
    authorityKey: root.publicKey,
    spiffe,
  });
  writeWorkload(out, pem, privateKey, rootPem);
  return spiffe;
}

/**
 * Test helper: a workload certificate signed by its own key (no CA), written as a workload's
 * three files with itself as the root — what a peer that bypassed the mesh CA would present.
 */
export function selfSignedWorkload(out: string, o: IssueOptions & { trustDomain: string }): string {
  const now = o.now ?? Date.now();
  const id: SpiffeIdentity = {
    trustDomain: o.trustDomain,
    namespace: o.namespace,
    serviceAccount: o.serviceAccount,
  };
  const bad = checkIdentityParts(id);
  if (bad) throw new CaError(bad);
  const spiffe = formatSpiffeId(id);
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const self = seq(set(seq(oid("2.5.4.3"), utf8("self-signed workload"))));
  const pem = leafCert({
    issuer: self,
    subject: self,
    notBefore: new Date(o.notBefore ?? now - BACKDATE_MS),
    notAfter: new Date(o.notAfter ?? now + o.ttlMs),
    publicKey,
    signingKey: privateKey,
    authorityKey: publicKey,
    spiffe,
  });
  writeWorkload(out, pem, privateKey, pem);
  return spiffe;
}

interface LeafSpec {
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  signingKey: KeyObject;
  authorityKey: KeyObject;
  spiffe: string;
}

/** A workload leaf: not a CA, TLS server and client, the SPIFFE ID as the only (critical) URI SAN. */
function leafCert(l: LeafSpec): string {
  return buildCert({
    issuer: l.issuer,
    subject: l.subject,
    notBefore: l.notBefore,
    notAfter: l.notAfter,
    publicKey: l.publicKey,
    signingKey: l.signingKey,
    extensions: [
      extension("2.5.29.19", true, seq()),
      extension("2.5.29.15", true, namedBits([KU.digitalSignature, KU.keyEncipherment])),
      extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2"))),
      extension("2.5.29.35", false, seq(tlv(0x80, keyId(l.authorityKey)))),
      extension("2.5.29.17", true, seq(tlv(0x86, Buffer.from(l.spiffe, "latin1")))),
    ],
  });
}

function writeWorkload(out: string, certPem: string, key: KeyObject, rootPem: string): void {
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "cert.pem"), certPem);
  writeSecret(join(out, "key.pem"), key.export({ type: "pkcs8", format: "pem" }) as string);
  writeFileSync(join(out, ROOT_CERT), rootPem);
}
