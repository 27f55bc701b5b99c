import { useMemo, useState } from 'react';
import { Api } from './api.ts';
import { forgetToken, storedToken, storeToken } from './auth.ts';
import type { ConsoleConfig } from './config.ts';
import { ApiContext } from './hooks.ts';
import { AddonPage } from './pages/addon.tsx';
import { AlertsPage } from './pages/alerts.tsx';
import { EventsPage } from './pages/events.tsx';
import { ProjectPage } from './pages/project.tsx';
import { ProjectsPage } from './pages/projects.tsx';
import { SecretGroupsPage } from './pages/secret-groups.tsx';
import { SignInPage } from './pages/sign-in.tsx';
import { hrefOf, useRoute } from './router.ts';
import { OperationTracker } from './ui/operations.tsx';

export const App = ({ config }: { config: ConsoleConfig }) => {
  const [token, setToken] = useState(storedToken);
  const [expired, setExpired] = useState(false);
  const route = useRoute();
  const signOut = () => {
    forgetToken();
    setToken(undefined);
  };
  const api = useMemo(
    () =>
      token
        ? new Api(config.apiUrl, token, () => {
            setExpired(true);
            forgetToken();
            setToken(undefined);
          })
        : undefined,
    [config.apiUrl, token],
  );

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <a href={hrefOf({ page: 'projects' })} className="brand">
          Addons console
        </a>
        {token ? (
          <button type="button" className="small" onClick={signOut}>
            Sign out
          </button>
        ) : null}
      </header>
      <main id="main" className="page">
        {!api ? (
          <SignInPage
            config={config.signIn}
            expired={expired}
            onSignedIn={(value) => {
              storeToken(value);
              setExpired(false);
              setToken(value);
            }}
          />
        ) : (
          <ApiContext.Provider value={api}>
            <OperationTracker>
              {route.page === 'projects' ? <ProjectsPage token={token ?? ''} /> : null}
              {route.page === 'project' ? (
                <ProjectPage key={route.projectId} projectId={route.projectId} />
              ) : null}
              {route.page === 'addon' ? (
                <AddonPage key={route.addonId} projectId={route.projectId} addonId={route.addonId} />
              ) : null}
              {route.page === 'secret-groups' ? (
                <SecretGroupsPage key={route.projectId} projectId={route.projectId} />
              ) : null}
              {route.page === 'alerts' ? (
                <AlertsPage key={route.projectId} projectId={route.projectId} />
              ) : null}
              {route.page === 'events' ? (
                <EventsPage
                  key={`${route.projectId}|${route.addonId ?? ''}`}
                  projectId={route.projectId}
                  addonId={route.addonId}
                />
              ) : null}
            </OperationTracker>
          </ApiContext.Provider>
        )}
      </main>
    </>
  );
};
