// Dangerous actions ask first. A modal <dialog> (focus kept inside, Escape
// cancels) states what will happen; Cancel has the focus, so a stray Enter
// changes nothing, and the confirm button says what it does, in the danger
// colour that the button which opened it has too.
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';

export interface Question {
  readonly title: string;
  /** The consequence, in words a person understands before acting. */
  readonly consequence: ComponentChildren;
  /** The confirm button's label: the act itself ("Delete instance"). */
  readonly confirm: string;
}

/** A dialog to render, and `ask`, which opens it and resolves true only when the act is confirmed. */
export function useConfirm(): [(question: Question) => Promise<boolean>, JSX.Element | null] {
  const [pending, setPending] = useState<{ question: Question; resolve: (ok: boolean) => void } | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const id = useId();
  useEffect(() => {
    if (pending && dialog.current && !dialog.current.open) dialog.current.showModal();
  }, [pending]);
  const ask = (question: Question) => new Promise<boolean>((resolve) => setPending({ question, resolve }));
  const closed = () => {
    // Escape closes it with no return value: only the confirm button says yes.
    const ok = dialog.current?.returnValue === 'confirm';
    pending?.resolve(ok);
    setPending(null);
  };
  const element = pending ? (
    <dialog ref={dialog} class="confirm" aria-labelledby={`${id}-title`} aria-describedby={`${id}-what`} onClose={closed}>
      <h2 id={`${id}-title`}>{pending.question.title}</h2>
      <div id={`${id}-what`}>{pending.question.consequence}</div>
      <form method="dialog" class="buttons">
        <button type="submit" value="cancel" autofocus>
          Cancel
        </button>
        <button type="submit" value="confirm" class="danger">
          {pending.question.confirm}
        </button>
      </form>
    </dialog>
  ) : null;
  return [ask, element];
}

/** A button styled as dangerous that runs `act` only after the person confirmed `question`. */
export function DangerButton({ question, act, disabled, children }: { question: Question; act: () => unknown; disabled?: boolean; children: ComponentChildren }) {
  const [ask, dialog] = useConfirm();
  return (
    <>
      <button type="button" class="danger" disabled={disabled} onClick={async () => (await ask(question)) && act()}>
        {children}
      </button>
      {dialog}
    </>
  );
}
