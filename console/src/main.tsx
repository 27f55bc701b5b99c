import { createRoot } from 'react-dom/client';
import { App } from './app.tsx';
import { loadConfig } from './config.ts';
import './styles.css';

const root = createRoot(document.getElementById('root') as HTMLElement);
loadConfig()
  .then((config) => root.render(<App config={config} />))
  .catch((error: unknown) =>
    root.render(
      <main className="page" role="alert">
        <h1>The console cannot start</h1>
        <p>{error instanceof Error ? error.message : String(error)}</p>
      </main>,
    ),
  );
