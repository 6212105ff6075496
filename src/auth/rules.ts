// What a new Manager (or Linux) password must be (OWASP ASVS 2.1.1, 2.1.7):
// long enough, not on a list of common and breached passwords, and not one of
// the patterns such lists are made of (one character repeated, a keyboard or
// alphabet run, the product's or the account's name). Every refusal says which
// rule, so a person knows what to change.
//
// The list (common-passwords.txt, beside the bundle or this file) holds the
// 17,950 passwords of 8 characters or more among the 49,233 most used ones in
// breach corpora, as zxcvbn-ts ships them (@zxcvbn-ts/language-common 4.1.3,
// MIT; from Dan Wheeler's zxcvbn). It is read only while a password is checked,
// never kept: an idle box holds none of it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApError, InvalidField } from '../errors';

export const MIN_PASSWORD = 8;
export const MAX_PASSWORD = 1024;

/** Defaults and names of this box that no list knows. */
const LOCAL = ['pwd', 'iplinux1', 'ipapps12', 'ip-apps1', 'appplatform', 'innovaphone1'];

/** Words whose presence makes a password easy to guess here: the vendor, the product, the accounts. */
const WORDS = ['innovaphone', 'appplatform', 'app-platform', 'manager', 'admin', 'password', 'passwort', 'iplinux', 'ipapps'];

/** Rows and runs people type as "random": a password within one of them (or its reverse) is a sequence. */
const SEQUENCES = [
  'abcdefghijklmnopqrstuvwxyz',
  '01234567890',
  'qwertyuiopasdfghjklzxcvbnm',
  'qwertzuiopasdfghjklyxcvbnm',
  'azertyuiopqsdfghjklmwxcvbn',
  '1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p',
  'zaq1xsw2cde3vfr4bgt5nhy6mju7',
  '!@#$%^&*()_+',
];

/** Look-alike digits and symbols read as the letters they stand for. */
const LEET: Readonly<Record<string, string>> = { '@': 'a', '4': 'a', '8': 'b', '3': 'e', '1': 'i', '!': 'i', '0': 'o', '$': 's', '5': 's', '7': 't', '+': 't', '2': 'z' };

let listFile: string | null = null;

/** Where the list lies: beside the bundle (dist/) or beside this file (the sources). */
function listPath(): string {
  listFile ??= fileURLToPath(new URL('./common-passwords.txt', import.meta.url));
  return listFile;
}

/** Whether `candidate` (lower case) is on the list. */
function onList(candidates: readonly string[]): boolean {
  let text: string;
  try {
    text = readFileSync(listPath(), 'utf8');
  } catch (err) {
    // Fail closed: without the list no password can be shown not to be a common one.
    throw new ApError('PASSWORD_LIST_MISSING', `the list of common passwords cannot be read (${listPath()}): reinstall the supervisor`, { cause: err });
  }
  const wanted = new Set(candidates);
  let start = 0;
  while (start < text.length) {
    const end = text.indexOf('\n', start);
    const line = text.slice(start, end === -1 ? text.length : end);
    if (wanted.has(line)) return true;
    start = end === -1 ? text.length : end + 1;
  }
  return false;
}

/** Whether `password` may become the Manager or a Linux password; InvalidField("password") says which rule it breaks. */
export function checkNewPassword(password: unknown): string {
  if (typeof password !== 'string') throw new InvalidField('password', 'expected a string');
  if ([...password].length < MIN_PASSWORD) throw new InvalidField('password', `too short: at least ${MIN_PASSWORD} characters`);
  if (password.length > MAX_PASSWORD) throw new InvalidField('password', `at most ${MAX_PASSWORD} characters (every character counts: nothing is cut off)`);
  if (/[\u0000-\u001f\u007f]/.test(password)) throw new InvalidField('password', 'no control characters');
  const lower = password.toLowerCase();
  if (/^(.)\1*$/su.test(lower)) throw new InvalidField('password', 'made of one character repeated: choose one that is not');
  const plain = [...lower].map((c) => LEET[c] ?? c).join('');
  // The list first: it is the rule that names the password itself.
  if (LOCAL.includes(lower) || LOCAL.includes(plain) || onList([lower, plain])) {
    throw new InvalidField('password', 'this password is too common: it is on the list of the most used passwords found in breaches; choose another');
  }
  const bare = lower.replace(/[^a-z0-9]/g, '');
  for (const word of WORDS) {
    if (lower.includes(word) || plain.includes(word) || bare.includes(word.replace(/-/g, ''))) {
      throw new InvalidField('password', `it contains "${word}", which anyone guessing passwords of this box tries first: choose one without it`);
    }
  }
  for (const run of SEQUENCES) {
    if (run.includes(lower) || [...run].reverse().join('').includes(lower)) throw new InvalidField('password', 'a keyboard or alphabet sequence: choose one that is not');
  }
  return password;
}
