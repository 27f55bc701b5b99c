import { type FormEvent, useState } from 'react';
import { type Loaded, toProblem, useApi } from '../hooks.ts';
import type { ExternalService, Problem } from '../types.ts';
import { Confirm, FormDialog } from '../ui/dialogs.tsx';
import { FieldError, fieldMessages, ProblemView } from '../ui/problem.tsx';
import { when } from '../ui/status.tsx';

/**
 * Databases the platform does not run, registered by connection string so groups can link them.
 * The string goes to the API once and is never shown again (the API never answers it either).
 */
export const ExternalServices = ({
  projectId,
  services,
  onDeleted,
}: {
  projectId: string;
  services: Loaded<ExternalService[]>;
  onDeleted: () => void;
}) => {
  const api = useApi();
  const [unlink, setUnlink] = useState(false);
  return (
    <section aria-labelledby="external-title">
      <div className="heading">
        <h2 id="external-title">External services</h2>
        <FormDialog
          title="Register an external service"
          trigger={
            <button type="button" className="small">
              Register external service
            </button>
          }
        >
          {(close) => (
            <RegisterForm
              onSubmit={async (body) => {
                await api.createExternalService(projectId, body);
                services.reload();
                close();
              }}
            />
          )}
        </FormDialog>
      </div>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Engine</th>
              <th scope="col">Endpoint</th>
              <th scope="col">User</th>
              <th scope="col">Registered</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(services.data ?? []).map((service) => (
              <tr key={service.id} data-service={service.name}>
                <td data-label="Name">{service.name}</td>
                <td data-label="Engine">{service.engine}</td>
                <td data-label="Endpoint">
                  <code>
                    {service.host}:{service.port}/{service.database}
                  </code>
                  {service.tls ? ' (TLS)' : ''}
                </td>
                <td data-label="User">{service.username}</td>
                <td data-label="Registered">{when(service.createdAt)}</td>
                <td data-label="Actions" className="row-actions">
                  <Confirm
                    title={`Delete external service ${service.name}?`}
                    description={
                      <>
                        <p>Its stored connection string is deleted; the database itself is not touched.</p>
                        <label className="check">
                          <input
                            type="checkbox"
                            checked={unlink}
                            onChange={(event) => setUnlink(event.target.checked)}
                          />{' '}
                          Also remove it from the secret groups that link it
                        </label>
                        <span className="hint">
                          Without this, a linked service is not deleted; with it, those groups are published
                          again without its variables.
                        </span>
                      </>
                    }
                    confirmLabel="Delete service"
                    trigger={
                      <button type="button" className="small danger" aria-label={`Delete ${service.name}`}>
                        Delete
                      </button>
                    }
                    onConfirm={async () => {
                      await api.deleteExternalService(projectId, service.id, unlink);
                      setUnlink(false);
                      services.reload();
                      onDeleted();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {services.data && !services.data.length ? <p>No external services.</p> : null}
    </section>
  );
};

const RegisterForm = ({
  onSubmit,
}: {
  onSubmit: (body: { name: string; connectionString: string; description?: string }) => Promise<void>;
}) => {
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    const description = String(form.get('description') ?? '');
    setBusy(true);
    setProblem(undefined);
    try {
      await onSubmit({
        name: String(form.get('name') ?? ''),
        connectionString: String(form.get('connectionString') ?? ''),
        ...(description ? { description } : {}),
      });
    } catch (error) {
      setProblem(toProblem(error));
      // A refused string is not kept in the page either: typed again, not shown again.
      const input = formElement.elements.namedItem('connectionString');
      if (input instanceof HTMLInputElement) input.value = '';
    } finally {
      setBusy(false);
    }
  };
  const nameErrors = fieldMessages(problem, 'name');
  const stringErrors = fieldMessages(problem, 'connectionString');
  return (
    <form onSubmit={submit} noValidate>
      <ProblemView problem={problem} />
      <label htmlFor="service-name">Name</label>
      <input
        id="service-name"
        name="name"
        required
        autoCapitalize="none"
        spellCheck={false}
        aria-invalid={nameErrors.length > 0}
        aria-describedby="service-name-error"
      />
      <FieldError id="service-name-error" messages={nameErrors} />
      <label htmlFor="service-string">Connection string</label>
      <input
        id="service-string"
        name="connectionString"
        type="password"
        required
        autoComplete="off"
        spellCheck={false}
        aria-invalid={stringErrors.length > 0}
        aria-describedby="service-string-hint service-string-error"
      />
      <span id="service-string-hint" className="hint">
        postgresql://user:password@host:5432/db (or mysql, redis, rediss, mongodb). Stored in the secret store
        only, never shown again.
      </span>
      <FieldError id="service-string-error" messages={stringErrors} />
      <label htmlFor="service-description">Description (optional)</label>
      <input id="service-description" name="description" />
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Registering…' : 'Register'}
        </button>
      </div>
    </form>
  );
};
