import { type FormEvent, useState } from 'react';
import { projectsOfToken } from '../auth.ts';
import { hrefOf, navigate } from '../router.ts';

const KEY = 'addons-console.projects';

/** Projects this browser opened before, newest first (the API has no project list route). */
export const rememberedProjects = (): string[] => {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) ?? '[]') as unknown;
    return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
  } catch {
    return [];
  }
};

export const rememberProject = (projectId: string) =>
  localStorage.setItem(
    KEY,
    JSON.stringify([projectId, ...rememberedProjects().filter((id) => id !== projectId)].slice(0, 20)),
  );

/**
 * Projects: those the Cognito token grants, and those opened before; any other by its id
 * (the local token may use every project).
 */
export const ProjectsPage = ({ token }: { token: string }) => {
  const granted = projectsOfToken(token);
  const [projectId, setProjectId] = useState('');
  const projects = [...new Set([...(Array.isArray(granted) ? granted : []), ...rememberedProjects()])];
  const open = (event: FormEvent) => {
    event.preventDefault();
    const id = projectId.trim();
    if (id) navigate({ page: 'project', projectId: id });
  };
  return (
    <section>
      <h1>Projects</h1>
      {projects.length ? (
        <ul className="cards">
          {projects.map((id) => (
            <li key={id}>
              <a className="card link" href={hrefOf({ page: 'project', projectId: id })}>
                {id}
              </a>
            </li>
          ))}
        </ul>
      ) : (
        <p>No project opened yet.</p>
      )}
      <form className="inline" onSubmit={open}>
        <label htmlFor="project-id">Open a project by id</label>
        <input
          id="project-id"
          value={projectId}
          onChange={(event) => setProjectId(event.target.value)}
          placeholder="e.g. shop"
          autoCapitalize="none"
          spellCheck={false}
        />
        <button type="submit" className="primary">
          Open
        </button>
      </form>
    </section>
  );
};
