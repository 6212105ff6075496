// Reading a new password for `ap ctl password` and `ap ctl linux-password`.
// On a terminal: a prompt on stderr, nothing echoed (raw mode, restored on
// every way out, Ctrl-C included), typed twice and refused when the two
// differ. From a pipe: the first line, no prompt, as scripts expect.
import { ApError } from '../errors';

/** What the prompt needs of the process: a terminal's stdin (or a pipe) and somewhere to ask. */
export interface PromptIo {
  readonly input: NodeJS.ReadStream;
  readonly output: NodeJS.WritableStream;
}

/** A new password of `what` (e.g. "the Manager password"): asked twice on a terminal, else the first line of stdin. */
export async function readNewPassword(what: string, io: PromptIo = { input: process.stdin, output: process.stderr }): Promise<string> {
  if (!io.input.isTTY) return readLine(io.input);
  const first = await readHidden(`New ${what}: `, io);
  const second = await readHidden(`Type it again: `, io);
  if (first !== second) throw new ApError('PASSWORDS_DIFFER', 'the two entries differ: nothing was changed');
  return first;
}

/** The first line of a pipe. */
async function readLine(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

/** One line typed on the terminal, not echoed. */
function readHidden(prompt: string, io: PromptIo): Promise<string> {
  const { input, output } = io;
  return new Promise((resolve, reject) => {
    let typed = '';
    const wasRaw = input.isRaw;
    // Should the process end some other way while we wait, the terminal still gets its echo back.
    const restoreOnExit = () => input.setRawMode(wasRaw);
    const finish = (err: Error | null) => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      process.off('exit', restoreOnExit);
      output.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n') return finish(null);
        if (ch === '\u0003') return finish(new ApError('CANCELLED', 'cancelled (Ctrl-C): nothing was changed'));
        if (ch === '\u0004' && typed === '') return finish(new ApError('CANCELLED', 'no password typed (Ctrl-D): nothing was changed'));
        if (ch === '\u007f' || ch === '\b') typed = [...typed].slice(0, -1).join('');
        else if (ch >= ' ') typed += ch;
      }
    };
    process.on('exit', restoreOnExit);
    // Echo off before the prompt shows: what is typed as soon as it appears is not echoed either.
    input.setRawMode(true);
    output.write(prompt);
    input.setEncoding('utf8');
    input.on('data', onData);
    input.resume();
  });
}
