import { AddonTypeListSchema } from '../../schemas/catalog.ts';
import { defineRoute } from '../route.ts';
import { errors } from './common.ts';

/** The addon-type catalog (the catalog function). */
export const catalogRoutes = {
  listAddonTypes: defineRoute({
    operationId: 'listAddonTypes',
    method: 'get',
    path: '/v1/addon-types',
    summary: 'Engine catalog: versions, plans, upgrade targets and capabilities on this deployment',
    tags: ['catalog'],
    fn: 'catalog',
    auth: true,
    responses: { 200: { description: 'The catalog', schema: AddonTypeListSchema }, 401: errors[401] },
  }),
} as const;
