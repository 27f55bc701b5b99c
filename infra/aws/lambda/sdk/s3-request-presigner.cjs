'use strict';
/**
 * The Lambda runtime's @aws-sdk/s3-request-presigner, with the runtime's S3 client the bundle's
 * stand-in leads to (../runtime-sdk-client.cjs): a presigned URL is signed by the same SDK that
 * would send the request, and neither S3's model nor the presigner is bundled. Only
 * `getSignedUrl` is used by the platform.
 */
const { load, runtimeOf } = require('../runtime-sdk-client.cjs');

exports.getSignedUrl = (client, command, options) => {
  const runtime = runtimeOf(client, command);
  return load('@aws-sdk/s3-request-presigner').getSignedUrl(runtime.client, runtime.command, options);
};
