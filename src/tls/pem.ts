// PEM armour (RFC 7468): base64 DER between BEGIN and END lines. Reading is
// lenient where real files differ (CRLF, text between blocks, "Bag Attributes"
// lines from openssl pkcs12) and strict where a mistake would go unnoticed.
import { ApError } from '../errors';

/** One PEM block: its label, its RFC 1421 headers (Proc-Type, DEK-Info) and its DER bytes. */
export interface PemBlock {
  label: string;
  headers: Map<string, string>;
  der: Buffer;
}

/** DER bytes as a PEM block with 64-character lines. */
export function toPem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Every PEM block in `text`, in order; throws ApError CERT_BAD on a broken block. */
export function readPemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  let open: { label: string; headers: Map<string, string>; body: string[]; line: number } | undefined;
  const lines = text.split(/\r?\n|\r/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    const lineNo = index + 1;
    const begin = /^-----BEGIN ([A-Z0-9 ]+)-----$/.exec(line);
    const end = /^-----END ([A-Z0-9 ]+)-----$/.exec(line);
    if (!open) {
      if (begin) open = { label: begin[1]!, headers: new Map(), body: [], line: lineNo };
      else if (end) throw bad(`line ${lineNo} ends a "${end[1]}" block that never began`);
      continue;
    }
    if (begin) throw bad(`the "${open.label}" block that begins on line ${open.line} has no END line`);
    if (end) {
      if (end[1] !== open.label) throw bad(`the "${open.label}" block that begins on line ${open.line} ends with "${end[1]}"`);
      blocks.push({ label: open.label, headers: open.headers, der: decodeBody(open.label, open.line, open.body) });
      open = undefined;
      continue;
    }
    const header = /^([A-Za-z][A-Za-z0-9-]*):\s*(.*)$/.exec(line);
    if (header && open.body.length === 0) open.headers.set(header[1]!.toLowerCase(), header[2]!);
    else if (line !== '') open.body.push(line);
  }
  if (open) throw bad(`the "${open.label}" block that begins on line ${open.line} has no END line`);
  return blocks;
}

function decodeBody(label: string, line: number, body: string[]): Buffer {
  const base64 = body.join('');
  if (base64 === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) {
    throw bad(`the "${label}" block that begins on line ${line} is not valid base64`);
  }
  return Buffer.from(base64, 'base64');
}

function bad(detail: string): ApError {
  return new ApError('CERT_BAD', `The certificate file is not valid PEM: ${detail}. Upload the PEM file as your certificate authority issued it.`);
}
