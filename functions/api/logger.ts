import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The logger of the AWS composition root, created once per container. Apart from the SDK
 * clients of `aws-clients.ts`, so a function that needs no AWS client bundles none of the SDK.
 */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'addons' });
