/** The token form: the token is checked against the API, then kept in sessionStorage (this tab only). */
import { useState } from 'preact/hooks';
import { ApiError, api, setToken } from './api.js';

export function Login(p: { onSignedIn: () => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="login"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(undefined);
        try {
          await api('/v1/functions', { token: value });
          setToken(value);
          p.onSignedIn();
        } catch (err) {
          setError(
            err instanceof ApiError && err.status === 401 ? 'That is not the server token.' : String(err),
          );
        } finally {
          setBusy(false);
        }
      }}
    >
      <h1>agni</h1>
      <p>This server needs its API token (the AGNI_TOKEN it was started with).</p>
      <label>
        Token
        <input
          name="token"
          type="password"
          autocomplete="current-password"
          value={value}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          required
        />
      </label>
      <button type="submit" disabled={busy}>
        Sign in
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
