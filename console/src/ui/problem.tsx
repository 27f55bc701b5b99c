import type { Problem } from '../types.ts';

/** An API problem as the user needs it: title, detail, and each field's message. */
export const ProblemView = ({ problem }: { problem: Problem | undefined }) => {
  if (!problem) return null;
  return (
    <div className="problem" role="alert">
      <strong>{problem.title}</strong>
      {problem.detail ? <p>{problem.detail}</p> : null}
      {problem.errors?.length ? (
        <ul>
          {problem.errors.map((error) => (
            <li key={`${error.path}:${error.message}`}>
              <code>{error.path}</code>: {error.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
};

/**
 * The messages a problem gives for one body field (`body.minutes`, `body.minutes.0`, ...), for
 * its input to show.
 */
export const fieldMessages = (problem: Problem | undefined, field: string): string[] =>
  (problem?.errors ?? [])
    .filter((error) => {
      const path = error.path.replace(/^body\./, '');
      return path === field || path.startsWith(`${field}.`);
    })
    .map((error) => error.message);

export const FieldError = ({ id, messages }: { id: string; messages: string[] }) =>
  messages.length ? (
    <span id={id} className="field-error">
      {messages.join('; ')}
    </span>
  ) : null;
