// One section of settings as one form with one Save: only what was changed
// is sent (PUT /settings, all or none); a refused value is said under its own
// field, the first such field gets the focus, and nothing is saved. While a
// change is unsaved the form says so, and leaving the page asks first.
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { useConfirm } from '../confirm';
import { guardLeaving } from '../router';
import { href, parseRoute } from '../routes';
import type { SettingSpec } from '../types';
import { ErrorText } from './errors';

/** Set, but shown hidden: the server answers secrets so. */
const HIDDEN = '***';
const LONG = new Set(['commandFile', 'letsEncryptDnsNames', 'accessDomains']);

const isSecret = (name: string) => /password|token/i.test(name);

interface Props {
  readonly settings: Readonly<Record<string, SettingSpec>>;
  readonly fields: readonly string[];
  /** Kept and checked, not acted on by this version: a group of their own at the end. */
  readonly later: readonly string[];
  readonly laterNote: string;
  /** Called after a save, to load the settings again. */
  readonly onSaved: () => Promise<void>;
}

export function SettingsForm({ settings, fields, later, laterNote, onSaved }: Props) {
  const [edits, setEdits] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [outcome, setOutcome] = useState<{ busy?: boolean; saved?: string; error?: unknown }>({});
  const form = useRef<HTMLFormElement>(null);
  const changed = Object.keys(edits).filter((n) => settings[n] && edits[n] !== settings[n]!.value);
  const leave = useLeaveGuard(changed.map((n) => settings[n]!.label));

  const edit = (name: string, value: string) => {
    setEdits((e) => ({ ...e, [name]: value }));
    setOutcome({});
  };
  const save = async (e: Event) => {
    e.preventDefault();
    if (changed.length === 0 || outcome.busy) return;
    setOutcome({ busy: true });
    try {
      await api('PUT', '/settings', { values: Object.fromEntries(changed.map((n) => [n, edits[n]!])) });
      await onSaved();
      setEdits({});
      setErrors({});
      setOutcome({ saved: changed.length === 1 ? `Saved ${settings[changed[0]!]!.label}.` : `Saved ${changed.length} settings.` });
    } catch (err) {
      const refused = fieldErrors(err);
      setErrors(refused);
      const count = Object.keys(refused).length;
      setOutcome({ error: count === 0 ? err : `Nothing was saved: ${count === 1 ? 'one value was refused (see under the field)' : `${count} values were refused (see under each field)`}.` });
      // The first refused field in the form's order, so the person sees why at once.
      const first = [...fields, ...later].find((n) => refused[n]);
      if (first) form.current?.querySelector<HTMLElement>(`[name="${first}"]`)?.focus();
    }
  };
  const field = (name: string) =>
    settings[name] ? <Field key={name} name={name} spec={settings[name]!} value={edits[name] ?? settings[name]!.value} error={errors[name]} onInput={(v) => edit(name, v)} /> : null;
  return (
    <form ref={form} class="settings-form" onSubmit={save} noValidate>
      {fields.map(field)}
      {later.length > 0 && (
        <fieldset class="later">
          <legend>Not used by this version yet</legend>
          <p class="note">{laterNote}</p>
          {later.map(field)}
        </fieldset>
      )}
      <div class="action save">
        <button type="submit" disabled={changed.length === 0 || outcome.busy}>
          Save
        </button>
        <span role="status" class="outcome">
          {outcome.busy ? 'Saving…' : changed.length > 0 ? `Unsaved changes: ${changed.map((n) => settings[n]!.label).join(', ')}` : (outcome.saved ?? '')}
        </span>
        <ErrorText error={outcome.error} />
      </div>
      {leave}
    </form>
  );
}

/** Each refused field's reason, from a 400 INVALID_FIELD (several in `fields`, or one in `field`). */
function fieldErrors(err: unknown): Record<string, string> {
  if (!(err instanceof ApiError) || err.code !== 'INVALID_FIELD') return {};
  if (err.fields) return Object.fromEntries(err.fields.map((f) => [f.field, f.message]));
  // The schema's check names a value as values.<name>.
  return err.field?.startsWith('values.') ? { [err.field.slice('values.'.length)]: err.message } : {};
}

function Field({ name, spec, value, error, onInput }: { name: string; spec: SettingSpec; value: string; error: string | undefined; onInput: (value: string) => void }) {
  const errorId = `setting-error-${name}`;
  const common = { name, id: `setting-${name}`, 'aria-invalid': error ? ('true' as const) : undefined, 'aria-describedby': error ? errorId : undefined };
  const secret = isSecret(name);
  let control;
  if (spec.choices) {
    control = (
      <select {...common} value={value} onChange={(e) => onInput((e.target as HTMLSelectElement).value)}>
        {spec.choices.map((c) => (
          <option key={c} value={c}>
            {c === 'true' ? 'on' : c === 'false' ? 'off' : c}
          </option>
        ))}
      </select>
    );
  } else if (LONG.has(name)) {
    control = <textarea {...common} rows={4} value={value} onInput={(e) => onInput((e.target as HTMLTextAreaElement).value)} />;
  } else if (secret) {
    // A secret that is set is shown empty: typing replaces it, Remove clears it, leaving it empty keeps it.
    control = (
      <input {...common} type="password" autocomplete="new-password" placeholder={value === HIDDEN ? 'set (type a new one to replace it)' : ''} value={value === HIDDEN ? '' : value} onInput={(e) => onInput((e.target as HTMLInputElement).value || (spec.value === HIDDEN ? HIDDEN : ''))} />
    );
  } else {
    control = <input {...common} type="text" value={value} onInput={(e) => onInput((e.target as HTMLInputElement).value)} />;
  }
  return (
    <div class="field">
      <label for={common.id}>{spec.label}</label>
      {control}
      {secret && spec.value === HIDDEN && (
        <button type="button" class="small" disabled={value === ''} onClick={() => onInput('')}>
          {value === '' ? 'removed on Save' : 'Remove'}
        </button>
      )}
      {error && (
        <p class="error" id={errorId}>
          {error}
        </p>
      )}
    </div>
  );
}

/**
 * While `unsaved` names changes, leaving asks first: a link of the Manager
 * before it is followed (so no history entry is made), Back, Forward or a
 * typed address through the router, and closing the tab by the browser's own
 * question.
 */
function useLeaveGuard(unsaved: readonly string[]): JSX.Element | null {
  const [ask, dialog] = useConfirm();
  const pending = unsaved.length > 0;
  const names = unsaved.join(', ');
  useEffect(() => {
    if (!pending) return;
    const leave = () => ask({ title: 'Leave without saving?', consequence: <p>Your changes to {names} are not saved: leaving drops them.</p>, confirm: 'Leave without saving' });
    const click = async (e: MouseEvent) => {
      const link = (e.target as Element | null)?.closest?.('a[href^="#"]');
      const to = link?.getAttribute('href');
      if (!to || href(parseRoute(to)) === href(parseRoute(location.hash)) || e.defaultPrevented || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
      e.preventDefault();
      if (await leave()) {
        unguard();
        location.hash = to;
      }
    };
    const unload = (e: BeforeUnloadEvent) => e.preventDefault();
    const unguard = guardLeaving(leave);
    document.addEventListener('click', click, true);
    addEventListener('beforeunload', unload);
    return () => {
      unguard();
      document.removeEventListener('click', click, true);
      removeEventListener('beforeunload', unload);
    };
  }, [pending, names]);
  return dialog;
}
