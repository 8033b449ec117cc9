/** The shell: login when the server needs a token, then the navigation and the page the path names. */
import { useEffect, useState } from 'preact/hooks';
import { getToken, onSignedOut, type ServerInfo, serverInfo, setToken } from './api.js';
import { Login } from './login.js';
import { BenchPage } from './pages/bench.js';
import { FunctionPage, FunctionsPage } from './pages/functions.js';
import { ImagesPage } from './pages/images.js';
import { InvocationPage } from './pages/invocation.js';
import { InvocationsPage } from './pages/invocations.js';
import { JobPage, JobsPage } from './pages/jobs.js';
import { NodesPage } from './pages/nodes.js';
import { TriggersPage } from './pages/triggers.js';
import { Link, useLocation } from './router.js';
import { ErrorBox, Loading } from './widgets.js';

function Page(p: { path: string; info: ServerInfo }) {
  const parts = p.path.split('/').filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case undefined:
    case 'functions':
      return parts[1] ? <FunctionPage name={parts[1]} /> : <FunctionsPage />;
    case 'invocations':
      return parts[1] ? <InvocationPage id={parts[1]} /> : <InvocationsPage />;
    case 'jobs':
      return parts[1] ? <JobPage id={parts[1]} /> : <JobsPage />;
    case 'triggers':
      return <TriggersPage />;
    case 'images':
      return <ImagesPage insight={p.info.features.images} />;
    case 'nodes':
      return <NodesPage />;
    case 'bench':
      return <BenchPage />;
    default:
      return <p class="error">No page at {p.path}</p>;
  }
}

export function App() {
  const { path } = useLocation();
  const [info, setInfo] = useState<ServerInfo>();
  const [infoError, setInfoError] = useState<Error>();
  const [signedIn, setSignedIn] = useState(getToken() !== null);

  useEffect(() => {
    serverInfo().then(setInfo, setInfoError);
    return onSignedOut(() => setSignedIn(false));
  }, []);

  if (infoError) return <ErrorBox error={infoError} />;
  if (!info) return <Loading what="the server" />;
  if (info.tokenRequired && !signedIn) return <Login onSignedIn={() => setSignedIn(true)} />;

  const nav: [string, string, boolean][] = [
    ['/functions', 'Functions', true],
    ['/invocations', 'Invocations', true],
    ['/jobs', 'Jobs', info.features.jobs],
    ['/triggers', 'Triggers', info.features.triggers],
    ['/images', 'Images', true],
    ['/nodes', 'Nodes', info.features.nodes],
    ['/bench', 'Bench', info.features.bench],
  ];
  const section = `/${path.split('/')[1] || 'functions'}`;
  return (
    <div class="shell">
      <nav>
        <span class="brand">agni</span>
        {nav
          .filter(([, , on]) => on)
          .map(([to, label]) => (
            <Link key={to} to={to} class={section === to ? 'active' : undefined}>
              {label}
            </Link>
          ))}
        {info.tokenRequired && (
          <button
            type="button"
            class="link signout"
            onClick={() => {
              setToken(null);
              setSignedIn(false);
            }}
          >
            Sign out
          </button>
        )}
      </nav>
      <main>
        <Page path={path} info={info} />
      </main>
    </div>
  );
}
