import type { ReplicaAddress } from '../ports/replica-provider.ts';
import type { ConnectionSecret } from '../ports/secret-store.ts';
import { connectionUri } from './credentials.ts';

/** The connection details with the replicas' read-only endpoints (none: the field is left out). */
export const publishedReplicas = (
  secret: ConnectionSecret,
  endpoints: ReplicaAddress[],
): ConnectionSecret => {
  const { replicas: _replicas, ...rest } = secret;
  if (endpoints.length === 0) return rest;
  const { uri: _uri, public: _public, caCertificate: _ca, ...base } = rest;
  return {
    ...rest,
    replicas: endpoints.map(({ host, port }) => ({
      host,
      port,
      uri: connectionUri({ ...base, host, port }),
    })),
  };
};

/** The replica URI a secret group's `replicaUri` key publishes: the first replica's, else the primary's. */
export const replicaUriOf = (secret: ConnectionSecret): string => secret.replicas?.[0]?.uri ?? secret.uri;
