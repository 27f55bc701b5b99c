import { useState } from 'react';
import { toProblem, useApi, useLoad } from '../hooks.ts';
import type { Addon, Capabilities, Problem } from '../types.ts';
import { Confirm } from '../ui/dialogs.tsx';
import { useTrack } from '../ui/operations.tsx';
import { FieldError, fieldMessages, ProblemView } from '../ui/problem.tsx';
import { bytes, Status, when } from '../ui/status.tsx';

/** What file each engine's upload takes (docs/imports.md). */
const FILE_HINTS: Record<Addon['engine'], string> = {
  postgresql:
    'A dump backup’s download, a pg_dump custom archive or a plain SQL script; zstd, gzip or uncompressed.',
  mysql: 'A dump backup’s download or a mysqldump SQL file; zstd, gzip or uncompressed.',
  redis: 'An RDB file (e.g. from redis-cli --rdb or a snapshot download).',
  mongodb: 'A dump backup’s download.',
};

const ACTIVE = new Set(['awaiting-upload', 'awaiting-start', 'importing']);
/** Hashing needs the whole file in memory: only below this size is the SHA-256 sent along. */
const HASH_LIMIT_BYTES = 256 * 1024 * 1024;

const sha256Of = async (file: File): Promise<string | undefined> => {
  if (file.size > HASH_LIMIT_BYTES || !globalThis.crypto?.subtle) return undefined;
  const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
};

/**
 * PUT of the file to the presigned URL. XMLHttpRequest rather than fetch: only it reports upload
 * progress (fetch would need a streamed request body, which needs HTTP/2).
 */
const upload = (
  url: string,
  headers: Record<string, string>,
  file: File,
  onProgress: (percent: number) => void,
) =>
  new Promise<void>((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('PUT', url);
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100));
    };
    request.onload = () =>
      request.status < 300
        ? resolve()
        : reject(
            new Error(
              `The upload was refused (HTTP ${request.status}): ${request.responseText.slice(0, 300)}`,
            ),
          );
    request.onerror = () => reject(new TypeError('The upload failed: the storage cannot be reached'));
    request.send(file);
  });

/** An addon's imports: upload a dump file or copy a live database, then the list with status. */
export const Imports = ({
  projectId,
  addon,
  capabilities,
  onChange,
}: {
  projectId: string;
  addon: Addon;
  capabilities: Capabilities;
  onChange: () => void;
}) => {
  const api = useApi();
  const track = useTrack();
  const imports = useLoad(() => api.imports(projectId, addon.id), [api, projectId, addon.id], {
    pollMs: 1500,
    poll: (page) => page.items.some((item) => ACTIVE.has(item.status)),
  });
  const [file, setFile] = useState<File>();
  const [connection, setConnection] = useState('');
  const [uploaded, setUploaded] = useState<number>();
  const [problem, setProblem] = useState<Problem>();
  const refresh = () => {
    imports.reload();
    onChange();
  };
  const started = (operation: Parameters<typeof track>[0], label: string) => {
    track(operation, label, refresh);
    refresh();
  };

  const importFile = async () => {
    if (!file) throw new Error('Choose a file first');
    setProblem(undefined);
    setUploaded(0);
    try {
      const created = await api.createImport(projectId, addon.id, { kind: 'upload', sizeBytes: file.size });
      if (!('uploadUrl' in created) || !created.uploadUrl) throw new Error('The API gave no upload URL');
      imports.reload();
      await upload(created.uploadUrl, created.uploadHeaders, file, setUploaded);
      const sha256 = await sha256Of(file);
      const { operation } = await api.startImport(projectId, addon.id, created.import.id, sha256);
      started(operation, `Import ${file.name}`);
    } catch (error) {
      setProblem(toProblem(error));
      imports.reload();
      throw error;
    }
  };

  const importLive = async () => {
    setProblem(undefined);
    try {
      const created = await api.createImport(projectId, addon.id, {
        kind: 'live',
        connectionString: connection,
      });
      // The connection string is kept only by the API's secret store: forget it here.
      setConnection('');
      imports.reload();
      const { operation } = await api.startImport(projectId, addon.id, created.import.id);
      started(operation, `Live import into ${addon.name}`);
    } catch (error) {
      setProblem(toProblem(error));
      throw error;
    }
  };

  const connectionErrors = fieldMessages(problem, 'connectionString');
  const sizeErrors = fieldMessages(problem, 'sizeBytes');
  return (
    <section aria-labelledby="imports-title">
      <h3 id="imports-title">Imports</h3>
      <ProblemView problem={problem ?? imports.problem} />
      {capabilities.importDump ? (
        <div className="inline">
          <label htmlFor="import-file">Dump file</label>
          <input
            id="import-file"
            type="file"
            onChange={(event) => setFile(event.target.files?.[0])}
            aria-invalid={sizeErrors.length > 0}
            aria-describedby="import-file-hint import-file-error"
          />
          <span id="import-file-hint" className="hint">
            {FILE_HINTS[addon.engine]}
          </span>
          <FieldError id="import-file-error" messages={sizeErrors} />
          <Confirm
            title={`Import ${file?.name ?? 'the file'} into ${addon.name}?`}
            description={
              <p>
                The addon's current data is replaced by the file's ({bytes(file?.size)}). Changes made to the
                addon meanwhile are lost.
              </p>
            }
            confirmLabel="Upload and import"
            trigger={
              <button type="button" className="small" disabled={!file}>
                Import file
              </button>
            }
            onConfirm={importFile}
          />
          {uploaded !== undefined && uploaded < 100 ? (
            <progress max={100} value={uploaded} aria-label="Upload progress" />
          ) : null}
        </div>
      ) : null}
      {capabilities.importLive ? (
        <div className="inline">
          <label htmlFor="import-connection">Connection string of the source database</label>
          <input
            id="import-connection"
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={connection}
            onChange={(event) => setConnection(event.target.value)}
            aria-invalid={connectionErrors.length > 0}
            aria-describedby="import-connection-error"
          />
          <FieldError id="import-connection-error" messages={connectionErrors} />
          <Confirm
            title={`Import a live database into ${addon.name}?`}
            description={<p>The addon's current data is replaced by a copy of the source database.</p>}
            confirmLabel="Import"
            trigger={
              <button type="button" className="small" disabled={!connection}>
                Live import
              </button>
            }
            onConfirm={importLive}
          />
        </div>
      ) : null}
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Import</th>
              <th scope="col">Status</th>
              <th scope="col">Size</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {(imports.data?.items ?? []).map((item) => (
              <tr key={item.id} data-import={item.id}>
                <td data-label="Import">
                  <code>{item.id}</code>
                  <br />
                  <small>
                    {item.kind}
                    {item.contents ? ` · ${item.contents}` : ''}
                    {item.source
                      ? ` · from ${item.source.host}:${item.source.port}/${item.source.database}`
                      : ''}
                  </small>
                </td>
                <td data-label="Status">
                  <Status value={item.status} />
                  {item.error ? <small> {item.error.message}</small> : null}
                </td>
                <td data-label="Size">{bytes(item.sizeBytes)}</td>
                <td data-label="Created">{when(item.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {imports.data && !imports.data.items.length ? <p>No imports yet.</p> : null}
    </section>
  );
};
