import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RedisAddons } from '#infra/aws/constructs/engines/redis.ts';
import { logicalIdOf } from '../workflows/support/aws-workflows.ts';
import { functionEnvironment } from './support/intrinsics.ts';
import { SYNTH_TIMEOUT_MS, type SynthesizedStack, synthesizeAddons } from './support/stack.ts';

let synthesized: SynthesizedStack;
let redis: RedisAddons;
beforeAll(() => {
  synthesized = synthesizeAddons();
  const found = synthesized.stack.engines.find((engine) => engine.engine === 'redis');
  if (!found) throw new Error('the stack deploys no Redis engine');
  redis = found as RedisAddons;
}, SYNTH_TIMEOUT_MS);

describe('Redis addons in the AWS stack', () => {
  it('creates one cache subnet group over the same isolated subnets as the RDS subnet group', () => {
    const json = synthesized.json;
    const [cacheGroup] = Object.values(json.Resources).filter(
      (resource) => resource.Type === 'AWS::ElastiCache::SubnetGroup',
    );
    const [dbGroup] = Object.values(json.Resources).filter(
      (resource) => resource.Type === 'AWS::RDS::DBSubnetGroup',
    );
    expect(cacheGroup?.Properties?.SubnetIds).toEqual(dbGroup?.Properties?.SubnetIds);
  });

  it("creates the deployment's disabled default user, which every addon's user group contains", () => {
    synthesized.template.hasResourceProperties('AWS::ElastiCache::User', {
      Engine: 'redis',
      UserId: 'addon-addons-off',
      UserName: 'default',
      AccessString: 'off ~* -@all',
    });
  });

  it('gives the workflow function the cache subnet group, the default user and the export bucket', () => {
    const env = functionEnvironment(
      synthesized.json,
      logicalIdOf(synthesized, synthesized.stack.workflows.taskFunction.function),
    );
    expect(env.CACHE_SUBNET_GROUP_NAME).toEqual(expect.any(String));
    expect(env.REDIS_EXPORT_BUCKET).toEqual(expect.any(String));
    expect(env.REDIS_DEFAULT_USER_ID).toEqual(expect.any(String));
  });

  it("lets ElastiCache's snapshot export principal write into the export bucket, for this account only", () => {
    const bucketId = logicalIdOf(synthesized, redis.exportBucket);
    synthesized.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: {
              Service: { 'Fn::Join': ['', [{ Ref: 'AWS::Region' }, '.elasticache-snapshot.amazonaws.com']] },
            },
            Action: Match.arrayWith(['s3:GetBucketAcl', 's3:ListBucket', 's3:PutObject']),
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ]),
      },
    });
  });

  it('lets the backups API and the retention sweep delete Redis snapshots of this deployment only', () => {
    synthesized.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'elasticache:DeleteSnapshot',
            Condition: { StringEquals: { 'aws:ResourceTag/addons:deployment': 'Addons' } },
          }),
        ]),
      },
    });
  });

  it('has no cdk-nag finding of its own', () => {
    expect(
      synthesized.nagFindings.filter((finding) => finding.paths.some((path) => path.includes('/Redis/'))),
    ).toEqual([]);
  });
});
