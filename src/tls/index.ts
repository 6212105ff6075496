// TLS material for the webserver. This subsystem owns making certificates
// (the self-signed one the device starts with, and CAs for tests), checking the
// PEM chain an administrator uploads, and writing the pair the webserver loads.
// It promises: only node:crypto, no subprocesses; an accepted chain has a key
// that matches its first certificate, certificates in issuing order, and a
// first certificate valid now; every refusal is an ApError with a CERT_* code
// and a message that says what to change; files are written atomically, 0600.
export { createCertificate, generateSelfSigned, type CertificateAndKey, type CertificateOptions } from './certificate';
export { MAX_CHAIN_BYTES, parseCertificateChain, type CertificateChain } from './chain';
export { writeTlsFiles } from './files';
export { CUSTOM_CERTIFICATE, DEFAULT_CERTIFICATE, installCertificate, prepareCertificate, type CertificateStore, type PreparedCertificate } from './store';
export { Certificates, type CertificatesOptions } from './api';
export type { CertificateView } from './views';
