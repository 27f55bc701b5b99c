import { useState } from 'react';
import { allPages, useApi, useLoad } from '../hooks.ts';
import { hrefOf } from '../router.ts';
import type { SecretGroup } from '../types.ts';
import { CopyButton } from '../ui/copy.tsx';
import { Confirm, FormDialog } from '../ui/dialogs.tsx';
import { ProblemView } from '../ui/problem.tsx';
import { ProjectNav } from '../ui/project-nav.tsx';
import { when } from '../ui/status.tsx';
import { ExternalServices } from './external-services.tsx';
import { SecretGroupForm } from './secret-group-form.tsx';

/**
 * A project's secret groups (docs/secret-groups.md): list, create, edit, delete, and each one's
 * published document with its values hidden until asked; then its external services.
 */
export const SecretGroupsPage = ({ projectId }: { projectId: string }) => {
  const api = useApi();
  const groups = useLoad(() => allPages((cursor) => api.secretGroups(projectId, cursor)), [api, projectId]);
  const addons = useLoad(() => allPages((cursor) => api.listAddons(projectId, cursor)), [api, projectId]);
  const services = useLoad(
    () => allPages((cursor) => api.externalServices(projectId, cursor)),
    [api, projectId],
  );
  const addonList = (addons.data ?? []).filter((addon) => addon.status !== 'deleting');
  const serviceList = services.data ?? [];
  const names = new Map<string, string>([
    ...addonList.map((addon): [string, string] => [addon.id, addon.name]),
    ...serviceList.map((service): [string, string] => [service.id, service.name]),
  ]);

  return (
    <section>
      <nav aria-label="Breadcrumb" className="crumbs">
        <a href={hrefOf({ page: 'projects' })}>Projects</a> /{' '}
        <a href={hrefOf({ page: 'project', projectId })}>{projectId}</a> /{' '}
        <span aria-current="page">Secret groups</span>
      </nav>
      <div className="heading">
        <h1>Secret groups</h1>
        <FormDialog
          title="New secret group"
          trigger={
            <button type="button" className="primary" disabled={!addons.data || !services.data}>
              New secret group
            </button>
          }
        >
          {(close) => (
            <SecretGroupForm
              addons={addonList}
              services={serviceList}
              submitLabel="Create group"
              onSubmit={async (body) => {
                await api.createSecretGroup(projectId, body);
                groups.reload();
                close();
              }}
            />
          )}
        </FormDialog>
      </div>
      <ProjectNav projectId={projectId} current="secret-groups" />
      <p className="hint">
        The environment variables a workload needs, published as one JSON document and published again
        whenever a linked addon's connection details change.
      </p>
      <ProblemView problem={groups.problem ?? addons.problem ?? services.problem} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Variables</th>
              <th scope="col">Document</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(groups.data ?? []).map((group) => (
              <tr key={group.id} data-group={group.name}>
                <td data-label="Name">
                  <strong>{group.name}</strong>
                  {group.description ? <div className="muted">{group.description}</div> : null}
                </td>
                <td data-label="Variables">
                  <Variables group={group} names={names} projectId={projectId} />
                </td>
                <td data-label="Document">
                  version {group.documentVersion}, {when(group.publishedAt)}
                </td>
                <td data-label="Actions" className="row-actions">
                  <FormDialog
                    title={`Document of ${group.name}`}
                    trigger={
                      <button
                        type="button"
                        className="small"
                        aria-label={`View the document of ${group.name}`}
                      >
                        Document
                      </button>
                    }
                  >
                    {() => <DocumentView projectId={projectId} group={group} />}
                  </FormDialog>
                  <FormDialog
                    title={`Edit ${group.name}`}
                    trigger={
                      <button type="button" className="small" aria-label={`Edit ${group.name}`}>
                        Edit
                      </button>
                    }
                  >
                    {(close) => (
                      <SecretGroupForm
                        initial={group}
                        addons={addonList}
                        services={serviceList}
                        submitLabel="Save group"
                        onSubmit={async (body) => {
                          await api.updateSecretGroup(projectId, group.id, {
                            ...body,
                            description: body.description ?? null,
                          });
                          groups.reload();
                          close();
                        }}
                      />
                    )}
                  </FormDialog>
                  <Confirm
                    title={`Delete secret group ${group.name}?`}
                    description={
                      <p>
                        Its document (<code>{group.documentLocation}</code>) is deleted: workloads that read
                        it lose these variables. The addons and external services stay.
                      </p>
                    }
                    confirmLabel="Delete group"
                    trigger={
                      <button type="button" className="small danger" aria-label={`Delete ${group.name}`}>
                        Delete
                      </button>
                    }
                    onConfirm={async () => {
                      await api.deleteSecretGroup(projectId, group.id);
                      groups.reload();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {groups.data && !groups.data.length ? <p>No secret groups yet.</p> : null}
      {groups.loading && !groups.data ? <p aria-busy="true">Loading secret groups…</p> : null}
      <ExternalServices projectId={projectId} services={services} onDeleted={groups.reload} />
    </section>
  );
};

/** What a group publishes, by name: each link's keys under their aliases, then the plain variables. */
const Variables = ({
  group,
  names,
  projectId,
}: {
  group: SecretGroup;
  names: Map<string, string>;
  projectId: string;
}) => (
  <ul className="plain">
    {group.links.map((link) => {
      const source = link.addonId ?? link.externalServiceId ?? '';
      const name = names.get(source) ?? source;
      return (
        <li key={source}>
          {link.keys.map((key) => key.alias).join(', ')} ←{' '}
          {link.addonId ? (
            <a href={hrefOf({ page: 'addon', projectId, addonId: link.addonId })}>{name}</a>
          ) : (
            <span>{name} (external)</span>
          )}
        </li>
      );
    })}
    {Object.keys(group.variables).length ? <li>{Object.keys(group.variables).join(', ')}</li> : null}
  </ul>
);

/** The published document: names at once, values only on request; each value can be copied. */
const DocumentView = ({ projectId, group }: { projectId: string; group: SecretGroup }) => {
  const api = useApi();
  const document = useLoad(() => api.secretGroupDocument(projectId, group.id), [api, projectId, group.id]);
  const [shown, setShown] = useState(false);
  const values = Object.entries(document.data?.values ?? {});
  return (
    <div>
      <ProblemView problem={document.problem} />
      <p className="hint">
        Read by workloads from <code>{group.documentLocation}</code>
        {document.data
          ? `, version ${document.data.documentVersion} published ${when(document.data.publishedAt)}`
          : ''}
        .
      </p>
      {document.data ? (
        <>
          <div className="inline">
            <button type="button" className="small" aria-pressed={shown} onClick={() => setShown(!shown)}>
              {shown ? 'Hide values' : 'Show values'}
            </button>
            <CopyButton
              value={JSON.stringify(document.data.values, null, 2)}
              label="the document as JSON"
              text="Copy JSON"
            />
          </div>
          <dl className="facts secrets" data-testid="document">
            {values.map(([name, value]) => (
              <div key={name} className="secret-row">
                <dt>
                  <code>{name}</code>
                </dt>
                <dd>
                  {shown ? (
                    <code data-value={name}>{value}</code>
                  ) : (
                    <span className="masked" role="img" aria-label="hidden value">
                      ••••••••
                    </span>
                  )}{' '}
                  <CopyButton value={value} label={name} />
                </dd>
              </div>
            ))}
          </dl>
          {values.length ? null : <p>The document is empty.</p>}
        </>
      ) : document.loading ? (
        <p aria-busy="true">Loading the document…</p>
      ) : null}
    </div>
  );
};
