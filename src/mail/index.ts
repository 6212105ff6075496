// Mail from the Manager (the *SMTP* settings) to the *Alarms and events →
// Email address*: disk warnings, alarms, test mails. Sent by nodemailer from a
// bounded queue with retries: a failure is logged and tried again later, never
// lost silently, and never holds anything else up.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApError, describe } from '../errors';
import type { Logger } from '../log';

export interface SmtpSettings {
  readonly server: string;
  readonly port: number;
  /** none: plain; starttls: upgrade (required); tls: TLS from the start (465). */
  readonly security: 'none' | 'starttls' | 'tls';
  readonly user: string | null;
  readonly password: string | null;
  readonly sender: string;
  /** Accept a server certificate we cannot verify (self-signed servers on a LAN). */
  readonly insecureTls: boolean;
}

export interface Mail {
  readonly subject: string;
  readonly text: string;
}

export interface MailerOptions {
  /** The SMTP settings and the recipient, or null while they are not set. */
  readonly config: () => Promise<{ smtp: SmtpSettings; to: string } | null>;
  readonly log: Logger;
  readonly maxQueue?: number;
  readonly retryDelaysMs?: readonly number[];
}

const DEFAULT_RETRIES = [60_000, 300_000, 900_000, 3_600_000];

export class Mailer {
  private readonly queue: { mail: Mail; attempt: number }[] = [];
  private pumping = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: MailerOptions) {}

  /** Queues a mail to the alarm address (dropped with a log line when no SMTP is configured). */
  send(mail: Mail): void {
    if (this.stopped) return;
    this.queue.push({ mail, attempt: 0 });
    if (this.queue.length > (this.options.maxQueue ?? 100)) {
      const lost = this.queue.shift()!;
      this.options.log.error(`mail queue full: dropped "${lost.mail.subject}"`);
    }
    if (!this.pumping && !this.timer) void this.pump();
  }

  /** Sends a test mail now; resolves with the server's answer or throws its error. */
  async test(to?: string): Promise<string> {
    const config = await this.options.config();
    if (!config) throw new ApError('SMTP_NOT_CONFIGURED', 'set the SMTP server, sender and the alarm e-mail address first');
    const info = await deliver(config.smtp, to ?? config.to, { subject: 'App Platform test mail', text: 'This is a test mail from the App Platform Manager.' });
    return info;
  }

  get pending(): number {
    return this.queue.length;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const head = this.queue[0]!;
        let to = 'the alarm address';
        try {
          // The settings live in the database, which may be what the mail is about: a failed read is retried like a failed send.
          const config = await this.options.config();
          if (!config) {
            this.options.log.warn(`no SMTP server or alarm e-mail address is set: mail "${head.mail.subject}" not sent`);
            this.queue.shift();
            continue;
          }
          to = config.to;
          await deliver(config.smtp, config.to, head.mail);
          this.queue.shift();
          this.options.log.info(`mail "${head.mail.subject}" sent to ${config.to}`);
        } catch (err) {
          const delays = this.options.retryDelaysMs ?? DEFAULT_RETRIES;
          const delay = delays[Math.min(head.attempt, delays.length - 1)]!;
          head.attempt++;
          this.options.log.error(`mail "${head.mail.subject}" to ${to} failed (attempt ${head.attempt}): ${describe(err)}; next try in ${Math.round(delay / 1000)} s`);
          this.timer = setTimeout(() => {
            this.timer = null;
            void this.pump();
          }, delay);
          this.timer.unref();
          return;
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}

async function deliver(smtp: SmtpSettings, to: string, mail: Mail): Promise<string> {
  const nodemailer = await loadNodemailer();
  const transport = nodemailer.createTransport({
    host: smtp.server,
    port: smtp.port,
    secure: smtp.security === 'tls',
    requireTLS: smtp.security === 'starttls',
    ignoreTLS: smtp.security === 'none',
    auth: smtp.user ? { user: smtp.user, pass: smtp.password ?? '' } : undefined,
    tls: { rejectUnauthorized: !smtp.insecureTls },
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 30_000,
  });
  try {
    const info = await transport.sendMail({ from: smtp.sender, to, subject: mail.subject, text: mail.text });
    return `accepted by ${smtp.server}: ${info.response}`;
  } finally {
    transport.close();
  }
}

/**
 * nodemailer, loaded on the first mail: most boxes send few, and a 256 MB box
 * should not hold it meanwhile. The build writes it beside dist/ap.js as
 * nodemailer.js (inside the bundle its 430 KB of source would be held from
 * the start, even unrun); run from the sources (tests), the npm package.
 */
async function loadNodemailer(): Promise<typeof import('nodemailer')> {
  const beside = new URL('./nodemailer.js', import.meta.url);
  const module = (existsSync(fileURLToPath(beside)) ? await import(beside.href) : await import('nodemailer')) as { default?: typeof import('nodemailer') };
  return module.default ?? (module as unknown as typeof import('nodemailer'));
}
