// Certificates of a test control plane, made with the openssl command (ECDSA P-256: fast).
// A CA that signs the API server's serving certificate and the clients' certificates (the API
// server's --client-ca-file), the admin client (O=system:masters), and the service-account key pair.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

async function openssl(...args: string[]): Promise<void> {
  try {
    await execFileP('openssl', args);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`openssl ${args.slice(0, 2).join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}

async function ecKey(path: string): Promise<void> {
  await openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path);
}

async function signed(dir: string, name: string, subject: string, ext: string): Promise<void> {
  const key = join(dir, `${name}.key`);
  await ecKey(key);
  await openssl('req', '-new', '-key', key, '-subj', subject, '-out', join(dir, `${name}.csr`));
  writeFileSync(join(dir, `${name}.ext`), ext);
  await openssl(
    'x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'),
    '-CAcreateserial', '-days', '365', '-sha256', '-extfile', join(dir, `${name}.ext`), '-out', join(dir, `${name}.crt`),
  );
}

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

/** Writes the certificates into dir; `ips` and `dnsNames` go into the serving certificate. */
export async function makePki(dir: string, ips: string[], dnsNames: string[]): Promise<Pki> {
  await ecKey(join(dir, 'ca.key'));
  await openssl(
    'req', '-x509', '-new', '-key', join(dir, 'ca.key'), '-subj', '/CN=conclave-e2e-ca', '-days', '3650', '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-out', join(dir, 'ca.crt'),
  );
  const san = [...ips.map((i) => `IP:${i}`), ...dnsNames.map((d) => `DNS:${d}`)].join(',');
  await signed(dir, 'apiserver', '/CN=kube-apiserver', `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
  await signed(dir, 'admin', '/O=system:masters/CN=conclave-e2e-admin', 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  await ecKey(join(dir, 'sa.key'));
  await openssl('pkey', '-in', join(dir, 'sa.key'), '-pubout', '-out', join(dir, 'sa.pub'));
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    servingCert: join(dir, 'apiserver.crt'),
    servingKey: join(dir, 'apiserver.key'),
    adminCert: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
  };
}

/** An admin kubeconfig with everything embedded (so it can be copied around). */
export function kubeconfig(server: string, pki: Pki, name = 'conclave-e2e'): string {
  const b64 = (p: string): string => readFileSync(p).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: ${name}
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(pki.caCert)}
users:
- name: ${name}-admin
  user:
    client-certificate-data: ${b64(pki.adminCert)}
    client-key-data: ${b64(pki.adminKey)}
contexts:
- name: ${name}
  context:
    cluster: ${name}
    user: ${name}-admin
    namespace: default
current-context: ${name}
`;
}
