import { type FormEvent, useState } from 'react';
import { type CognitoStep, cognitoAnswer, cognitoSignIn } from '../auth.ts';
import type { SignInConfig } from '../config.ts';

/**
 * Local target: paste the bearer token `npm start` printed (kept in .addons/token). AWS: the
 * Cognito user's email and password; the ID token it returns is the bearer token.
 */
export const SignInPage = ({
  config,
  expired,
  onSignedIn,
}: {
  config: SignInConfig;
  expired: boolean;
  onSignedIn: (token: string) => void;
}) => {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [username, setUsername] = useState('');
  const [step, setStep] = useState<Exclude<CognitoStep, { kind: 'signed-in' }>>();

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setError(undefined);
    if (config.kind === 'token') {
      const token = String(form.get('token') ?? '').trim();
      if (!token) return setError('Enter the bearer token');
      return onSignedIn(token);
    }
    setBusy(true);
    try {
      const next = step
        ? await cognitoAnswer(config, step, username, String(form.get('answer') ?? ''))
        : await cognitoSignIn(config, username, String(form.get('password') ?? ''));
      if (next.kind === 'signed-in') onSignedIn(next.idToken);
      else setStep(next);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card narrow">
      <h1>Sign in</h1>
      {expired ? <p role="status">Your session ended: sign in again.</p> : null}
      <form onSubmit={submit} noValidate>
        {config.kind === 'token' ? (
          <>
            <label htmlFor="token">Bearer token</label>
            <input id="token" name="token" type="password" autoComplete="current-password" required />
            <p className="hint">
              <code>npm start</code> prints it; it is kept in <code>.addons/token</code>.
            </p>
          </>
        ) : step ? (
          <>
            <label htmlFor="answer">
              {step.kind === 'mfa' ? 'Code from your authenticator app' : 'New password'}
            </label>
            <input
              id="answer"
              name="answer"
              type={step.kind === 'mfa' ? 'text' : 'password'}
              autoComplete={step.kind === 'mfa' ? 'one-time-code' : 'new-password'}
              inputMode={step.kind === 'mfa' ? 'numeric' : undefined}
              required
            />
          </>
        ) : (
          <>
            <label htmlFor="username">Email</label>
            <input
              id="username"
              name="username"
              type="email"
              autoComplete="username"
              value={username}
              onChange={(event) => setUsername(event.target.value)}
              required
            />
            <label htmlFor="password">Password</label>
            <input id="password" name="password" type="password" autoComplete="current-password" required />
          </>
        )}
        {error ? (
          <p className="problem" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </section>
  );
};
