import { z } from 'zod';

/**
 * One zod schema per function's environment: validated once at cold start, and the same
 * schema types the CDK `environment` prop, so a missing variable fails `tsc`, not a request.
 */
export const CommonEnvSchema = z.object({
  POWERTOOLS_SERVICE_NAME: z.string().default('addons'),
  ADDONS_TARGET: z.enum(['aws', 'local']).default('aws'),
});

export const TableEnvSchema = z.object({ TABLE_NAME: z.string().min(1) });
export const SecretsEnvSchema = z.object({
  SECRET_NAME_PREFIX: z.string().min(1),
  SECRETS_KMS_KEY_ID: z.string().min(1).optional(),
});

export const MetaFunctionEnvSchema = CommonEnvSchema;
export const CatalogFunctionEnvSchema = CommonEnvSchema;
export const AddonsFunctionEnvSchema = CommonEnvSchema.extend({
  ...TableEnvSchema.shape,
  PROVISION_ADDON_STATE_MACHINE_ARN: z.string().min(1),
  DELETE_ADDON_STATE_MACHINE_ARN: z.string().min(1),
});
export const CredentialsFunctionEnvSchema = CommonEnvSchema.extend({
  ...TableEnvSchema.shape,
  ...SecretsEnvSchema.shape,
});
export const OperationsFunctionEnvSchema = CommonEnvSchema.extend(TableEnvSchema.shape);

export type EnvInput<S extends z.ZodObject> = z.input<S>;

export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}

export const parseEnv = <S extends z.ZodObject>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> => {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigurationError(`Invalid function environment: ${problems.join('; ')}`);
  }
  return result.data;
};
