import * as AlertDialog from '@radix-ui/react-alert-dialog';
import * as Dialog from '@radix-ui/react-dialog';
import { type ReactNode, useState } from 'react';
import { toProblem } from '../hooks.ts';
import type { Problem } from '../types.ts';
import { ProblemView } from './problem.tsx';

/**
 * Where focus goes when a dialog closes: an element (e.g. what the action just put on the page),
 * or nothing for the dialog's trigger, Radix's default.
 */
type FocusAfterClose = () => HTMLElement | null | undefined;
const moveFocus = (target: FocusAfterClose | undefined) => (event: Event) => {
  const element = target?.();
  if (!element) return;
  event.preventDefault();
  element.focus();
};

/**
 * Asks before an action that destroys or replaces data (Radix AlertDialog: focus trapped,
 * Escape cancels, the cancel button has focus first so Enter never destroys by accident).
 * Stays open with the problem when the action fails.
 */
export const Confirm = ({
  trigger,
  title,
  description,
  confirmLabel,
  onConfirm,
  focusAfterClose,
}: {
  trigger: ReactNode;
  title: string;
  description: ReactNode;
  confirmLabel: string;
  onConfirm: () => Promise<unknown>;
  focusAfterClose?: FocusAfterClose;
}) => {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem>();
  const confirm = async (event: { preventDefault: () => void }) => {
    event.preventDefault();
    setBusy(true);
    setProblem(undefined);
    try {
      await onConfirm();
      setOpen(false);
    } catch (error) {
      setProblem(toProblem(error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <AlertDialog.Root
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        if (next) setProblem(undefined);
      }}
    >
      <AlertDialog.Trigger asChild>{trigger}</AlertDialog.Trigger>
      <AlertDialog.Portal>
        <AlertDialog.Overlay className="overlay" />
        <AlertDialog.Content className="dialog" onCloseAutoFocus={moveFocus(focusAfterClose)}>
          <AlertDialog.Title>{title}</AlertDialog.Title>
          <AlertDialog.Description asChild>
            <div>{description}</div>
          </AlertDialog.Description>
          <ProblemView problem={problem} />
          <div className="actions">
            <AlertDialog.Cancel asChild>
              <button type="button">Cancel</button>
            </AlertDialog.Cancel>
            <AlertDialog.Action asChild>
              <button type="button" className="danger" onClick={confirm} disabled={busy}>
                {busy ? 'Working…' : confirmLabel}
              </button>
            </AlertDialog.Action>
          </div>
        </AlertDialog.Content>
      </AlertDialog.Portal>
    </AlertDialog.Root>
  );
};

/** A modal form (Radix Dialog): the caller's form closes it through `close`. */
export const FormDialog = ({
  trigger,
  title,
  children,
  focusAfterClose,
}: {
  trigger: ReactNode;
  title: string;
  children: (close: () => void) => ReactNode;
  focusAfterClose?: FocusAfterClose;
}) => {
  const [open, setOpen] = useState(false);
  return (
    <Dialog.Root open={open} onOpenChange={setOpen}>
      <Dialog.Trigger asChild>{trigger}</Dialog.Trigger>
      <Dialog.Portal>
        <Dialog.Overlay className="overlay" />
        <Dialog.Content
          className="dialog"
          aria-describedby={undefined}
          onCloseAutoFocus={moveFocus(focusAfterClose)}
        >
          <Dialog.Title>{title}</Dialog.Title>
          {children(() => setOpen(false))}
          <Dialog.Close asChild>
            <button type="button" className="close" aria-label="Close">
              ×
            </button>
          </Dialog.Close>
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
};
