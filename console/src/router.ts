import { useSyncExternalStore } from 'react';

/**
 * Hash routes (`#/projects/shop/addons/adn-1`): deep links work from static hosting (S3 and
 * CloudFront need no rewrite rule) and can never collide with an API path on the local target.
 */
export type Route =
  | { page: 'projects' }
  | { page: 'project'; projectId: string }
  | { page: 'addon'; projectId: string; addonId: string }
  | { page: 'secret-groups'; projectId: string }
  | { page: 'alerts'; projectId: string }
  | { page: 'events'; projectId: string; addonId?: string };

export const parseRoute = (hash: string): Route => {
  const [path = '', search = ''] = hash.replace(/^#\/?/, '').split('?');
  const parts = path
    .split('/')
    .filter(Boolean)
    .map((part) => decodeURIComponent(part));
  if (parts[0] === 'projects' && parts[1]) {
    if (parts[2] === 'addons' && parts[3]) return { page: 'addon', projectId: parts[1], addonId: parts[3] };
    if (parts[2] === 'secret-groups') return { page: 'secret-groups', projectId: parts[1] };
    if (parts[2] === 'alerts') return { page: 'alerts', projectId: parts[1] };
    if (parts[2] === 'events') {
      const addonId = new URLSearchParams(search).get('addon');
      return { page: 'events', projectId: parts[1], ...(addonId ? { addonId } : {}) };
    }
    return { page: 'project', projectId: parts[1] };
  }
  return { page: 'projects' };
};

export const hrefOf = (route: Route): string => {
  const enc = encodeURIComponent;
  switch (route.page) {
    case 'projects':
      return '#/';
    case 'project':
      return `#/projects/${enc(route.projectId)}`;
    case 'addon':
      return `#/projects/${enc(route.projectId)}/addons/${enc(route.addonId)}`;
    case 'secret-groups':
      return `#/projects/${enc(route.projectId)}/secret-groups`;
    case 'alerts':
      return `#/projects/${enc(route.projectId)}/alerts`;
    case 'events':
      return `#/projects/${enc(route.projectId)}/events${route.addonId ? `?addon=${enc(route.addonId)}` : ''}`;
  }
};

const subscribe = (notify: () => void) => {
  window.addEventListener('hashchange', notify);
  return () => window.removeEventListener('hashchange', notify);
};

export const useRoute = (): Route => parseRoute(useSyncExternalStore(subscribe, () => window.location.hash));

export const navigate = (route: Route) => {
  window.location.hash = hrefOf(route);
};
