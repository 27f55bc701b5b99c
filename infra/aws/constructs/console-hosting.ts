import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import type { IUserPool, IUserPoolClient } from 'aws-cdk-lib/aws-cognito';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { ensureConsoleBuilt } from '../../../console/build.ts';
import { CONSOLE_DIST } from '../../../console/paths.ts';
import { acknowledgeGuard } from '../guard.ts';
import { acknowledgeNag } from '../nag.ts';

export interface ConsoleHostingProps {
  /** Where the bucket's server access logs go (the platform's access log bucket). */
  accessLogs: s3.IBucket;
}

export interface ConsoleDeployProps {
  apiUrl: string;
  userPool: IUserPool;
  userPoolClient: IUserPoolClient;
}

/**
 * The web console on AWS: its built files (console/build.ts, built at synth when missing or
 * stale) in a private bucket behind CloudFront (origin access control, HTTPS only, compressed),
 * with `console/config.json` written at deploy time: the API's URL and the Cognito user pool the
 * sign-in page calls. The API lets this origin call it (CORS): create this construct before the
 * API, pass `origin` to it, then `deploy` once the API exists.
 */
export class ConsoleHosting extends Construct {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;

  constructor(scope: Construct, id: string, props: ConsoleHostingProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      serverAccessLogsBucket: props.accessLogs,
      serverAccessLogsPrefix: 'console/',
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      // Built files only: every deploy puts them back.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Object events to EventBridge (CT.S3.PR.4), natively: `eventBridgeEnabled` would add a
    // custom-resource Lambda for what the AWS::S3::Bucket property does itself.
    (this.bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
      eventBridgeConfiguration: { eventBridgeEnabled: true },
    };
    const rebuilt = 'Only built files live here, and every deploy writes them again from the repository';
    acknowledgeGuard(this.bucket, 's3_bucket_versioning_enabled_check', rebuilt);
    acknowledgeGuard(this.bucket, 's3_bucket_object_lock_enabled_check', rebuilt);
    acknowledgeGuard(this.bucket, 's3_bucket_replication_enabled_check', rebuilt);
    acknowledgeGuard(
      this.bucket,
      's3_bucket_default_encryption_kms_check',
      'Public static files (the console bundle) read by CloudFront through origin access control; SSE-KMS would need a key policy for CloudFront for no secrecy gained',
    );

    const region = Stack.of(this).region;
    const headers = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'Addons console: CSP (own files, the API, Cognito), HSTS, no framing',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: [
            "default-src 'self'",
            "script-src 'self'",
            // Radix's scroll lock adds a <style> element while a dialog is open.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            `connect-src 'self' https://*.execute-api.${Aws.REGION}.amazonaws.com https://cognito-idp.${region}.amazonaws.com`,
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
          ].join('; '),
          override: true,
        },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(365),
          includeSubdomains: true,
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Addons web console',
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
        compress: true,
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
    });
    acknowledgeNag(
      this.distribution,
      'CFR1',
      'The console is static files; who may use the platform is decided by Cognito and the API, not by the viewer country',
    );
    acknowledgeNag(
      this.distribution,
      'CFR2',
      'Static files only, cached at the edge; the API behind it has its own throttling. Attach a web ACL with `webAclId` where policy asks for one',
    );
    acknowledgeNag(
      this.distribution,
      'CFR3',
      'Standard logging needs an ACL-enabled bucket; the files are public and the API logs every call that matters',
    );
    const defaultDomain =
      'Served on its *.cloudfront.net name with the default certificate (its TLS policy is fixed by CloudFront); a custom domain needs a certificate in us-east-1 that this stack cannot own';
    acknowledgeNag(this.distribution, 'CFR4', defaultDomain);
    acknowledgeGuard(this.distribution, 'cloudfront_custom_ssl_certificate_check', defaultDomain);
    acknowledgeGuard(this.distribution, 'cloudfront_sni_enabled_check', defaultDomain);
    acknowledgeGuard(this.distribution, 'cloudfront_security_policy_check', defaultDomain);
    acknowledgeGuard(
      this.distribution,
      'cloudfront_access_logs_enabled_check',
      'Standard logging needs an ACL-enabled bucket; the files are public and the API logs every call that matters',
    );
    acknowledgeGuard(
      this.distribution,
      'cloudfront_origin_failover_enabled_check',
      'One origin, a regional S3 bucket of static files cached at the edge; a second origin would be a second copy of the same files in another Region',
    );
  }

  /** The console's origin, for the API's CORS. */
  get origin(): string {
    return `https://${this.distribution.distributionDomainName}`;
  }

  get url(): string {
    return `${this.origin}/`;
  }

  /** Uploads the built files and the deployment's config.json, and invalidates what is not hashed. */
  deploy(props: ConsoleDeployProps): BucketDeployment {
    ensureConsoleBuilt();
    const deployment = new BucketDeployment(this, 'Files', {
      destinationBucket: this.bucket,
      sources: [
        Source.asset(CONSOLE_DIST, { exclude: ['.sources', '**/*.map'] }),
        Source.jsonData('console/config.json', {
          apiUrl: props.apiUrl,
          signIn: {
            kind: 'cognito',
            region: Aws.REGION,
            userPoolId: props.userPool.userPoolId,
            clientId: props.userPoolClient.userPoolClientId,
          },
        }),
      ],
      distribution: this.distribution,
      distributionPaths: ['/index.html', '/console/config.json'],
      prune: true,
      memoryLimit: 256,
    });
    // CDK's bucket deployment function (one per stack and memory size, at the stack's root).
    const stack = Stack.of(this);
    const uploader = stack.node.children.find((child) =>
      child.node.id.startsWith('Custom::CDKBucketDeployment'),
    );
    if (!uploader) throw new Error('the bucket deployment function was not found');
    const why = "CDK's bucket deployment function: it copies the console's files from the CDK asset bucket";
    acknowledgeNag(
      uploader,
      'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      `${why}; it writes only its own logs`,
    );
    for (const finding of [
      'Action::s3:Abort*',
      'Action::s3:DeleteObject*',
      'Action::s3:GetBucket*',
      'Action::s3:GetObject*',
      'Action::s3:List*',
      'Resource::*',
      `Resource::<${stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/*`,
      'Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*',
    ]) {
      acknowledgeNag(
        uploader,
        `IAM5[${finding}]`,
        `${why} into this bucket (read the asset, write and prune the console's objects) and invalidates the distribution (cloudfront:CreateInvalidation has no resource-level permission)`,
      );
    }
    acknowledgeNag(uploader, 'L1', `${why}; its Python runtime is the one aws-cdk-lib pins`);
    acknowledgeGuard(
      uploader,
      'lambda_inside_vpc_check',
      `${why}; it calls only S3 and CloudFront, at deploy time`,
    );
    return deployment;
  }
}
