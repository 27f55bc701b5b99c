import type { RouteImpls } from '#shared/api/http-handler.ts';
import type { secretGroupsRoutes } from '#shared/api/routes/secret-groups.ts';
import type { ExternalServiceService } from '#shared/services/external-services.ts';
import type { SecretGroupService } from '#shared/services/secret-groups.ts';

export interface SecretGroupRoutesDeps {
  secretGroups: SecretGroupService;
  externalServices: ExternalServiceService;
}

const NO_STORE = { 'cache-control': 'no-store' };

/** The secret-group and external-service routes the credentials function serves. */
export const secretGroupRoutes = ({
  secretGroups,
  externalServices,
}: SecretGroupRoutesDeps): RouteImpls<typeof secretGroupsRoutes> => ({
  createSecretGroup: async ({ params, body }) => {
    const group = await secretGroups.create(params.projectId, body);
    return {
      status: 201,
      headers: { location: `/v1/projects/${params.projectId}/secret-groups/${group.id}` },
      body: group,
    };
  },
  listSecretGroups: async ({ params, query }) => ({
    status: 200,
    body: await secretGroups.list(params.projectId, query),
  }),
  getSecretGroup: async ({ params }) => ({
    status: 200,
    body: await secretGroups.get(params.projectId, params.groupId),
  }),
  updateSecretGroup: async ({ params, body }) => ({
    status: 200,
    body: await secretGroups.update(params.projectId, params.groupId, body),
  }),
  deleteSecretGroup: async ({ params }) => {
    await secretGroups.delete(params.projectId, params.groupId);
    return { status: 204 };
  },
  getSecretGroupDocument: async ({ params }) => ({
    status: 200,
    headers: NO_STORE,
    body: await secretGroups.document(params.projectId, params.groupId),
  }),
  registerExternalService: async ({ params, body }) => {
    const service = await externalServices.register(params.projectId, body);
    return {
      status: 201,
      headers: { location: `/v1/projects/${params.projectId}/external-services/${service.id}` },
      body: service,
    };
  },
  listExternalServices: async ({ params, query }) => ({
    status: 200,
    body: await externalServices.list(params.projectId, query),
  }),
  getExternalService: async ({ params }) => ({
    status: 200,
    body: await externalServices.get(params.projectId, params.externalServiceId),
  }),
  deleteExternalService: async ({ params, query }) => {
    await externalServices.delete(params.projectId, params.externalServiceId, query.unlinkGroups === 'true');
    return { status: 204 };
  },
});
