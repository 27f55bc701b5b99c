import type { Target } from '../../schemas/catalog.ts';
import { MONGOD_MISSING_NOTE } from './local-offer.ts';

/**
 * What the catalog says of MongoDB addons beside its flags, per target: what a capability that is
 * off lacks, and how the engine is run. Kept out of the engine facts, so only the functions that
 * show the catalog or quote it in a refusal carry these strings.
 */
export const mongodbNotes: Record<Target, string[]> = {
  aws: [
    'MongoDB addons are Amazon DocumentDB 5.0 clusters (MongoDB 5.0 API compatibility, not MongoDB itself): some MongoDB features and operators are not supported, see the DocumentDB functional differences.',
    'TLS is always on (tls: false is refused): verify the server with the Amazon RDS global CA bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem). The URI names replicaSet=rs0, retryWrites=false (DocumentDB has no retryable writes) and authSource=admin.',
    'DocumentDB storage grows automatically; storageGiB is not allocated and does not limit the addon, so it cannot be changed either.',
    'Plan changes (scaling) modify the instance class of every instance of the cluster (ModifyDBInstance, applied at once; a reader takes over while the writer restarts). Multi-AZ (multiAz) is not a switch of its own: DocumentDB spreads replicas across Availability Zones.',
    'Each node is a billed instance (the smallest class is db.t4g.medium); replicas are reader instances of the same cluster.',
    "Read replicas (replicas, up to 15 readers) are chosen at create and changed later with PATCH replicas: reader instances of the writer's class join the cluster (CreateDBInstance) or leave it (DeleteDBInstance); the writer keeps serving. The connection details publish the cluster's reader endpoint once (replicas: one entry, readPreference=secondaryPreferred), which spreads reads over the readers and follows failovers. Restores keep the number of readers.",
    'Point-in-time restore and forks are not available for MongoDB addons yet.',
    'No public access and so no networking changes (networkingUpdate): DocumentDB clusters have no publicly accessible option (they are reached from inside their VPC only), and TLS is always on.',
    'Imports (importDump, importLive) are not available for MongoDB addons yet: a live import needs a restore that replaces the database all or nothing, which the collection-by-collection restore does not give.',
    "Credential rotation (credentialRotation) is not available for MongoDB addons yet: the addon's user is the DocumentDB master user, which has one password.",
    'Upgrades (upgrade) are not available: the catalog offers one DocumentDB version (5.0), so there is nothing to upgrade to.',
  ],
  local: [MONGOD_MISSING_NOTE],
};
