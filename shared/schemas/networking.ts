import * as z from 'zod/mini';
import { text } from './bounds.ts';
import { meta } from './meta.ts';
import { ReplicaCountSchema } from './replicas.ts';
import { SCALING_FIELDS, ScalingFields } from './scaling.ts';

/** How many allow rules an addon may have (one security-group rule each on AWS). */
export const MAX_ALLOW_RULES = 20;

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * Why `value` is not an IPv4 CIDR in canonical form (`203.0.113.0/24`: no host bits set), or
 * undefined when it is one. Pure string work, so the schema runs in the browser too.
 */
export const cidrProblem = (value: string): string | undefined => {
  const match = /^([^/]+)\/(\d{1,2})$/.exec(value);
  const octets = match?.[1]?.split('.') ?? [];
  const bits = Number(match?.[2]);
  if (!match || octets.length !== 4 || !octets.every((octet) => OCTET.test(octet)) || bits > 32) {
    return 'must be an IPv4 CIDR such as 203.0.113.0/24 (prefix length 0 to 32)';
  }
  const address = octets.reduce((sum, octet) => sum * 256 + Number(octet), 0);
  const size = 2 ** (32 - bits);
  const network = Math.floor(address / size) * size;
  if (network !== address) {
    const canonical = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join('.');
    return `has host bits set: the network is ${canonical}/${bits}`;
  }
  return undefined;
};

export const CidrSchema = meta(
  z.string().check(
    z.maxLength(18),
    z.superRefine((value, ctx) => {
      const problem = cidrProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  ),
  { description: 'An IPv4 CIDR (`203.0.113.7/32` for one address)', example: '203.0.113.0/24' },
);

/**
 * A change of how the addon is reached. Fields left out keep their current value; the result must
 * hold together (public needs TLS and at least one allow rule), which the service checks and
 * names the field it refuses.
 */
export const NetworkingRequestSchema = meta(
  z.strictObject({
    tls: meta(z.optional(z.boolean()), {
      description: 'Require TLS on every connection (capability `tls`); cannot be turned off while public',
    }),
    public: meta(z.optional(z.boolean()), {
      description:
        'Reachable from outside the private network, only from `allow` (capability `publicAccess`); requires TLS. False makes it private again',
    }),
    allow: meta(z.optional(z.array(CidrSchema).check(z.minLength(1), z.maxLength(MAX_ALLOW_RULES))), {
      description:
        'The source addresses a public addon accepts connections from: at least one CIDR. Replaces the current list',
    }),
  }),
  { id: 'NetworkingRequest' },
);
export type NetworkingRequest = z.infer<typeof NetworkingRequestSchema>;

/**
 * `PATCH .../addons/{addonId}`: one kind of change per request: `networking`, or one of the
 * scaling fields (`plan`, `storageGiB`, `multiAz`; shared/schemas/scaling.ts), each its own
 * operation. Any other field, none or two of them are refused with a 400 naming them.
 */
export const UpdateAddonRequestSchema = meta(
  z
    .strictObject({
      networking: z.optional(NetworkingRequestSchema),
      replicas: z.optional(ReplicaCountSchema),
      ...ScalingFields,
    })
    .check(
      z.superRefine((request, ctx) => {
        const given = Object.keys(request).filter(
          (key) => request[key as keyof typeof request] !== undefined,
        );
        if (given.length === 1) return;
        ctx.addIssue({
          code: 'custom',
          path: given.length ? [given[1] as string] : [],
          message: given.length
            ? `one kind of change per request: ${given.join(' and ')} were given together`
            : `name one change: ${['networking', 'replicas', ...SCALING_FIELDS].join(', ')}`,
        });
      }),
    ),
  { id: 'UpdateAddonRequest' },
);
export type UpdateAddonRequest = z.infer<typeof UpdateAddonRequestSchema>;

/** What an addon's networking is, as the addon and the engine providers see it. */
export interface NetworkingSettings {
  tls: boolean;
  public: boolean;
  /** Enforced while public; kept while private so a later `public: true` may omit it. */
  allow: string[];
}

const NetworkingSettingsSchema = z.object({
  tls: z.boolean(),
  public: z.boolean(),
  allow: z.array(CidrSchema).check(z.maxLength(MAX_ALLOW_RULES)),
});

/**
 * What an `update-networking` operation carried by a workflow (AWS) asks: the settings, and what
 * the addon had before (where a failure puts it back).
 */
export const NetworkingChangeSchema = meta(
  z.extend(NetworkingSettingsSchema, {
    previous: NetworkingSettingsSchema,
  }),
  { id: 'NetworkingChange' },
);
export type NetworkingChange = z.infer<typeof NetworkingChangeSchema>;

/** A public addon's own connection details, beside the private ones. */
export const PublicEndpointSchema = meta(
  z.object({
    host: text(253),
    port: meta(z.number().check(z.int(), z.minimum(0), z.maximum(65535)), { format: 'int32' }),
    uri: text(2048),
  }),
  { id: 'PublicEndpoint' },
);
export type PublicEndpoint = z.infer<typeof PublicEndpointSchema>;
