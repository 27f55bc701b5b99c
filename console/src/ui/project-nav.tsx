import { hrefOf } from '../router.ts';

const TABS = [
  ['project', 'Addons'],
  ['secret-groups', 'Secret groups'],
  ['events', 'Events'],
  ['alerts', 'Alerts'],
] as const;

/** The project's pages, as links (the current one marked for screen readers and by style). */
export const ProjectNav = ({
  projectId,
  current,
}: {
  projectId: string;
  current: (typeof TABS)[number][0];
}) => (
  <nav aria-label="Project">
    <ul className="tabs">
      {TABS.map(([page, label]) => (
        <li key={page}>
          <a href={hrefOf({ page, projectId })} aria-current={page === current ? 'page' : undefined}>
            {label}
          </a>
        </li>
      ))}
    </ul>
  </nav>
);
