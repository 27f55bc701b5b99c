import type { NetworkingApplied } from '../ports/engine-provider.ts';
import type { ConnectionSecret } from '../ports/secret-store.ts';
import type { NetworkingSettings } from '../schemas/networking.ts';
import { connectionUri } from './credentials.ts';
import { publishedReplicas } from './replica-details.ts';

/**
 * The connection details with `networking` applied: TLS flag, URIs (the replicas' too: they serve
 * with TLS as their primary does), the public endpoint and the CA.
 */
export const publishedNetworking = (
  secret: ConnectionSecret,
  networking: NetworkingSettings,
  applied: NetworkingApplied,
): ConnectionSecret => {
  const { uri: _uri, public: _public, caCertificate, replicas, ...rest } = secret;
  const base = { ...rest, tls: networking.tls };
  const ca = applied.caCertificate ?? caCertificate;
  const endpoint = networking.public ? applied.publicEndpoint : undefined;
  const published: ConnectionSecret = {
    ...base,
    uri: connectionUri(base),
    ...(endpoint
      ? { public: { ...endpoint, uri: connectionUri({ ...base, host: endpoint.host, port: endpoint.port }) } }
      : {}),
    ...(ca ? { caCertificate: ca } : {}),
  };
  return publishedReplicas(published, replicas ?? []);
};

/** The settings in words: the operation's message once applied. */
export const describeNetworking = (settings: NetworkingSettings): string =>
  `TLS ${settings.tls ? 'required' : 'off'}; ${
    settings.public ? `public from ${settings.allow.join(', ')}` : 'private'
  }`;
