import { useState } from 'react';

/**
 * Copies `value` to the clipboard; says so to screen readers too. The button's name is its
 * visible word plus what it copies ("Copy URI", then "Copied URI").
 */
export const CopyButton = ({
  value,
  label,
  text = 'Copy',
}: {
  value: string;
  label: string;
  text?: string;
}) => {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setState('copied');
    } catch {
      setState('failed');
    }
    setTimeout(() => setState('idle'), 2000);
  };
  return (
    <>
      <button type="button" className="small" onClick={copy}>
        {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed' : text}
        <span className="visually-hidden"> {label}</span>
      </button>
      <span className="visually-hidden" aria-live="polite">
        {state === 'copied' ? `${label} copied` : ''}
      </span>
    </>
  );
};
