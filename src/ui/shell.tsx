// The Manager's frame: the session (login, the forced password change,
// logout, a session ended elsewhere), the connection banner, the header, the
// tree, the page the address names, and the notes of finished jobs. It owns
// the refresh signal every live view follows.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, connectEvents, disconnectEvents, setCsrf, subscribe } from './api';
import { ErrorText } from './components/errors';
import { ConnectionBanner } from './components/live';
import { JobToasts } from './components/toasts';
import { Tree } from './components/tree';
import { useOnline, useRefreshOnChanges } from './hooks/events';
import { Refresh } from './hooks/fetch';
import { BootPage } from './pages/boot';
import { DiagnosticsPage } from './pages/diagnostics';
import { Home } from './pages/home';
import { InstancePage } from './pages/instance';
import { ChangePassword, Login } from './pages/login';
import { NewPage } from './pages/new';
import { ReplicationPage } from './pages/replication';
import { RescueLogPage } from './pages/rescue-log';
import { ServicePage } from './pages/service';
import { SettingsPage } from './pages/settings';
import { StorePage } from './pages/store';
import { SystemPage } from './pages/system';
import { TokensPage } from './pages/tokens';
import { go, useRoute, type Route } from './router';
import type { Session } from './types';

function Page({ route }: { route: Route }) {
  // Keyed by what they show: another instance or service is a new page, with nothing of the last one's state.
  switch (route.page) {
    case 'instance':
      return <InstancePage key={route.id} id={route.id} />;
    case 'service':
      return <ServicePage key={route.name} name={route.name} />;
    case 'settings':
      return <SettingsPage section={route.section} />;
    case 'replication':
      return <ReplicationPage />;
    case 'store':
      return <StorePage />;
    case 'system':
      return <SystemPage />;
    case 'diagnostics':
      return <DiagnosticsPage />;
    case 'boot':
      return <BootPage />;
    case 'rescue-log':
      return <RescueLogPage />;
    case 'tokens':
      return <TokensPage />;
    case 'new':
      return <NewPage />;
    case 'password':
      return <ChangePassword forced={false} onDone={() => go({ page: 'settings', section: 'security' })} />;
    case 'home':
      return <Home />;
  }
}

export function App() {
  // undefined: not known yet; null: logged out.
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const [logoutError, setLogoutError] = useState<unknown>(null);
  // The session ended under an open page (not by its Log out): the login says so.
  const [ended, setEnded] = useState(false);
  const route = useRoute();
  const online = useOnline();
  const refresh = useMemo(() => () => setTick((t) => t + 1), []);
  const signal = useMemo(() => ({ tick, refresh }), [tick, refresh]);
  useEffect(() => {
    api<Session>('GET', '/session').then(
      (s) => {
        setCsrf(s.csrf);
        setSession(s);
      },
      // No session (401) is the usual answer: the login shows.
      () => setSession(null),
    );
  }, []);
  useEffect(
    () =>
      subscribe((event) => {
        if (event.type !== 'ended') return;
        disconnectEvents();
        setEnded(true);
        setSession(null);
      }),
    [],
  );
  const ready = !!session && !session.mustChangePassword;
  useEffect(() => {
    if (ready) connectEvents();
  }, [ready]);
  // Pushed changes refresh what is shown (a burst of them once).
  useRefreshOnChanges(ready, refresh);
  if (session === undefined) return null;
  if (session === null)
    return (
      <>
        <Login
          onLogin={(s) => {
            setEnded(false);
            setSession(s);
          }}
        />
        {ended && (
          <p class="note narrow" role="status">
            The session has ended (logged out elsewhere, the password changed, or the App Platform restarted): log in again.
          </p>
        )}
        <ErrorText error={logoutError} />
      </>
    );
  if (session.mustChangePassword) return <ChangePassword forced onDone={() => setSession({ ...session, mustChangePassword: false })} />;
  const logout = async () => {
    disconnectEvents();
    setLogoutError(null);
    try {
      await api('DELETE', '/session');
    } catch (err) {
      // A session already gone (401) is logged out; anything else is said on the login page.
      if (!(err instanceof ApiError && err.status === 401)) setLogoutError(err);
    }
    setSession(null);
    go({ page: 'home' });
  };
  return (
    <Refresh.Provider value={signal}>
      <ConnectionBanner />
      <div class={online ? 'layout' : 'layout offline'}>
        <header>
          <strong>App Platform Manager</strong>
          <nav aria-label="Pages">
            <a href="#/">Home</a> <a href="#/store">App Store</a> <a href="#/settings">Settings</a> <a href="#/replication">Replication</a> <a href="#/tokens">API tokens</a> <a href="#/system">System</a>{' '}
            <button type="button" onClick={logout}>
              Log out
            </button>
          </nav>
        </header>
        <Tree />
        <main>
          <Page route={route} />
        </main>
        <JobToasts />
      </div>
    </Refresh.Provider>
  );
}
