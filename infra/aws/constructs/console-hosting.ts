import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeGuard } from '../guard.ts';
import { acknowledgeNag } from '../nag.ts';

export interface ConsoleHostingProps {
  /** Where the bucket's server access logs go (the platform's access log bucket). */
  accessLogs: s3.IBucket;
}

/**
 * The web console on AWS: a private bucket behind CloudFront (origin access control, HTTPS
 * only, compressed, security headers). The API lets this origin call it (CORS): create this
 * construct before the API and pass it `origin`.
 *
 * The files are uploaded after `cdk deploy` by `npm run console:deploy` (console/deploy.ts),
 * with `console/config.json` (the API's URL and the Cognito pool, from the stack outputs), not
 * by CDK's BucketDeployment: that adds a Python custom-resource Lambda with a managed policy and
 * wildcard grants, which this stack's rules (every function ARM64 on the project runtime, no
 * managed policies, no wildcard actions) refuse. The upload sets Cache-Control itself
 * (index.html and config.json revalidate, hashed bundles are immutable), so no invalidation is
 * needed either.
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
      // Kept when the stack goes, as CloudFormation cannot delete a bucket with objects in it
      // (and emptying it would take another custom-resource Lambda); it holds only built files.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Object events to EventBridge (CT.S3.PR.4), natively: `eventBridgeEnabled` would add a
    // custom-resource Lambda for what the AWS::S3::Bucket property does itself.
    (this.bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
      eventBridgeConfiguration: { eventBridgeEnabled: true },
    };
    const rebuilt = 'Only built files live here, and every deploy writes them again from the repository';
    acknowledgeGuard(this.bucket, 's3_bucket_versioning_enabled_check', rebuilt);
    acknowledgeGuard(this.bucket, 's3_bucket_object_lock_enabled_check', rebuilt);
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
            // S3: the console PUTs an import's file to its presigned URL.
            `connect-src 'self' https://*.execute-api.${Aws.REGION}.amazonaws.com https://cognito-idp.${region}.amazonaws.com https://*.s3.${region}.amazonaws.com https://*.s3.amazonaws.com`,
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
}
