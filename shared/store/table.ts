import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * Single-table design. dynalite has no transactions, so every invariant is held by a
 * single-item conditional write (see ADR 3 in the architecture document).
 *
 * | item          | pk               | sk                   | gsi1 (by addon)            | gsi2 (active ops) |
 * |---------------|------------------|----------------------|----------------------------|-------------------|
 * | addon         | PROJECT#{p}      | ADDON#{id}           |                            |                   |
 * | name claim    | PROJECT#{p}      | ADDONNAME#{name}     |                            |                   |
 * | operation     | PROJECT#{p}      | OPERATION#{id}       | ADDON#{addonId} / OP#{id}  | ACTIVE / {id}     |
 * | idempotency   | IDEMPOTENCY      | {key hash}           |                            |                   |
 * | quota counter | PROJECT#{p}      | QUOTA#{name}         |                            |                   |
 * | secret group  | PROJECT#{p}      | SECRETGROUP#{id}     |                            |                   |
 * | external svc  | PROJECT#{p}      | EXTSERVICE#{id}      |                            |                   |
 */
export const tableDefinition = (tableName: string): CreateTableCommandInput => ({
  TableName: tableName,
  BillingMode: 'PAY_PER_REQUEST',
  AttributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'S' },
    { AttributeName: 'gsi1pk', AttributeType: 'S' },
    { AttributeName: 'gsi1sk', AttributeType: 'S' },
    { AttributeName: 'gsi2pk', AttributeType: 'S' },
    { AttributeName: 'gsi2sk', AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
  GlobalSecondaryIndexes: [
    {
      IndexName: 'gsi1',
      KeySchema: [
        { AttributeName: 'gsi1pk', KeyType: 'HASH' },
        { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
    {
      IndexName: 'gsi2',
      KeySchema: [
        { AttributeName: 'gsi2pk', KeyType: 'HASH' },
        { AttributeName: 'gsi2sk', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
  ],
});

export const keys = {
  addon: (projectId: string, addonId: string) => ({ pk: `PROJECT#${projectId}`, sk: `ADDON#${addonId}` }),
  addonName: (projectId: string, name: string) => ({ pk: `PROJECT#${projectId}`, sk: `ADDONNAME#${name}` }),
  /** `addons`, or `schedules#{addonId}`: see quota-counters.ts. */
  quota: (projectId: string, name: string) => ({ pk: `PROJECT#${projectId}`, sk: `QUOTA#${name}` }),
  secretGroup: (projectId: string, groupId: string) => ({
    pk: `PROJECT#${projectId}`,
    sk: `SECRETGROUP#${groupId}`,
  }),
  externalService: (projectId: string, externalServiceId: string) => ({
    pk: `PROJECT#${projectId}`,
    sk: `EXTSERVICE#${externalServiceId}`,
  }),
  operation: (projectId: string, operationId: string) => ({
    pk: `PROJECT#${projectId}`,
    sk: `OPERATION#${operationId}`,
  }),
};
