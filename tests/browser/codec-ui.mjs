// How a person reads encrypted payloads in the Temporal UI (docs/codec.md):
// the UI decodes them through the web app's codec server, which answers
// only people signed in to the web app. The UI sends the session cookie
// only with its "Include cross-origin credentials" setting, which the dev
// server cannot configure (it only passes --ui-codec-endpoint); the UI keeps
// its Codec Server settings in the browser's localStorage, as JSON:
//   overrideRemoteCodecConfiguration  true  ("Use my browser setting and
//                                           ignore Cluster-level setting")
//   endpoint                          "<web app>/codec"
//   includeCredentials                true  ("Include cross-origin credentials")
// The UI reads includeCredentials from the browser only when the override is
// on and an endpoint is set there; otherwise it takes the server's (false).

// useCodecServer signs person in to the web app at webURL on the
// development person picker (the session cookie the codec server checks),
// unless signIn is false, and has every page of the UI at uiURL start with
// the Codec Server settings above, as a person would set them once.
export async function useCodecServer(page, { uiURL, webURL, person, signIn = true }) {
  if (signIn) {
    await page.goto(`${webURL}/`);
    await Promise.all([
      page.waitForURL(/\/inbox$/),
      page.locator(`button[data-person="${person}"]`).click(),
    ]);
  }
  const origin = new URL(uiURL).origin;
  await page.addInitScript(
    ({ origin, endpoint }) => {
      if (window.location.origin !== origin) return;
      window.localStorage.setItem('overrideRemoteCodecConfiguration', 'true');
      window.localStorage.setItem('endpoint', JSON.stringify(endpoint));
      window.localStorage.setItem('includeCredentials', 'true');
    },
    { origin, endpoint: `${webURL.replace(/\/+$/, '')}/codec` },
  );
}
