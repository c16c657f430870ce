// Seeds a running PosMul API with demo data and drives the demo economy through every state,
// through the public HTTP API only (so the seed obeys every rule a client does; no SQL), but for
// the first admin, which no API can make (U1): the seed runs `posmul-api admin bootstrap` once
// admin@posmul.dev has verified its e-mail, as an operator would:
//
//   users (an admin, a resolver, alice, bob) who verify their e-mail from the development
//   mailbox (so the sign-up grant is paid, E5) → alice links a wallet (Sign-In with Ethereum,
//   signed with an anvil key) → an economy configuration (M1), which applies from the next day
//   of the API's clock → investments: carol (a merchant) with three verified stores around
//   Seoul City Hall where alice pays (a PMC credit, I2), an ad campaign funded in KRW (I1), and
//   two Cloud Funding projects of bob's, one alice funds to its goal and one that fails (I3) →
//   four games timed in that clock, created by the admin → stakes → the
//   first game closes and the resolver settles it (P6: not the admin who created it) → PMC
//   credits issued, joining a wave after the dispute window (2 hours of the API's clock) → the
//   relayer puts them in a wave and
//   publishes it → alice asks the relayer to claim for her → her PMC shows on chain in
//   GET /v1/me/wallet.
//
// Every time comes from GET /v1/clock: in demo mode (`script/dev`: CLOCK=chain, the relayer
// running the chain a day every DEMO_DAY_SECONDS) that is the chain's time, so "the next day"
// is at most one demo day away and the whole path takes a few minutes. Each state is printed
// as it is reached, with the wall time since the seed started. Safe to run again: existing
// users log in, an existing wallet link and economy configuration are kept.
//
//   node script/seed.mjs http://127.0.0.1:8080
//
// Environment: ANVIL_JSON (default .dev/anvil.json, written by `anvil --config-out`) for the
// key alice's wallet signs with (account ALICE_KEY_INDEX, default 5); `cast` on PATH;
// MAILBOX_DIR (default .dev/mailbox: the API's mailbox in development, where the verification
// links land); POSMUL_API_BIN (default target/debug/posmul-api) with DATABASE_URL for the
// admin bootstrap; SEED_TIMEOUT_SECONDS (default 900) bounds every wait.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const base = process.argv[2] ?? "http://127.0.0.1:8080";
const password = "posmul-demo-password";
const started = Date.now();
const timeoutMs = Number(process.env.SEED_TIMEOUT_SECONDS ?? 900) * 1000;

const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s`;
const say = (line) => console.log(`[${elapsed()}] ${line}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const pmc = (amount) => `${amount?.pmc ?? "?"} PMC`;
const positive = (amount) => amount != null && BigInt(amount.wei) > 0n;

async function call(method, path, { token, body, key } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (key) headers["idempotency-key"] = key;
  const res = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

/** `call`, failing the seed unless the status is one of `ok`. */
async function must(method, path, opts = {}, ok = [200, 201, 202, 204]) {
  const r = await call(method, path, opts);
  if (!ok.includes(r.status)) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

/** Polls `probe` every `everyMs` until it returns something truthy. */
async function until(what, probe, everyMs = 1000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The API's clock: `{ now: Date, day: "YYYY-MM-DD", kind }`. */
async function clock() {
  const c = await must("GET", "/v1/clock");
  return { ...c, now: new Date(c.now) };
}

/** Waits until the API's clock reads `t` or later. */
const clockReaches = (what, t) =>
  until(what, async () => {
    const c = await clock();
    return c.now >= t ? c : null;
  }, 500);

const mailbox = process.env.MAILBOX_DIR ?? ".dev/mailbox";

/** The newest verification token the API mailed to `email` (read from the development mailbox). */
function mailedToken(email) {
  let names = [];
  try {
    names = readdirSync(mailbox).filter((n) => n.endsWith(".eml")).sort().reverse();
  } catch {
    return null;
  }
  for (const name of names) {
    // Long lines (the link) come quoted-printable: join soft line breaks, decode "=3D".
    const text = readFileSync(join(mailbox, name), "utf8").replace(/=\r?\n/g, "").replace(/=3D/g, "=");
    if (!text.split(/\r?\n/).some((l) => l.toLowerCase() === `to: ${email}`)) continue;
    const m = text.match(/verify-email\?token=([A-Za-z0-9_-]+)/);
    if (m) return m[1];
  }
  return null;
}

async function user(email) {
  let r = await call("POST", "/v1/auth/register", { body: { email, password } });
  if (r.status === 409) r = await call("POST", "/v1/auth/login", { body: { email, password } });
  if (r.status >= 300) throw new Error(`${email}: ${r.status} ${JSON.stringify(r.json)}`);
  const token = r.json.access_token;
  let me = await must("GET", "/v1/me", { token });
  if (!me.email_verified) {
    // E5: the sign-up grant is paid when the e-mail is verified. Registration mailed a link;
    // ask for a fresh one when an earlier run's mail is gone.
    let mailToken = r.status === 201 ? await until(`the verification mail to ${email}`, async () => mailedToken(email), 200) : null;
    if (!mailToken) {
      await must("POST", "/v1/me/email/verification", { token });
      await sleep(500);
      mailToken = await until(`the verification mail to ${email}`, async () => mailedToken(email), 200);
    }
    await must("POST", "/v1/auth/email/verify", { body: { token: mailToken } });
    me = await must("GET", "/v1/me", { token });
  }
  return { email, token, id: me.id ?? me.user_id, grant: me.signup_grant, roles: me.roles ?? [] };
}

/** Makes `u` the first admin with the bootstrap command (U1), unless it is one already; signs in
 * again, since the role change ends the tokens issued before it. */
async function firstAdmin(u) {
  if (u.roles.includes("admin")) return u;
  const bin = process.env.POSMUL_API_BIN ?? "target/debug/posmul-api";
  try {
    execFileSync(bin, ["admin", "bootstrap", "--email", u.email], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) {
    throw new Error(`${bin} admin bootstrap --email ${u.email} failed (another admin already exists?): ${e.stderr ?? e.message}`);
  }
  const r = await must("POST", "/v1/auth/login", { body: { email: u.email, password } });
  return { ...u, token: r.access_token, roles: ["citizen", "admin"] };
}

const HOUR = 3_600_000;
const iso = (t) => t.toISOString();
const ceilHour = (t) => new Date(Math.ceil(t.getTime() / HOUR) * HOUR);

// ── Users, each verified from the mailbox (E5: the sign-up grant is paid at verification).
const admin = await firstAdmin(await user("admin@posmul.dev"));
// P6: no one settles a game they created; the admin creates the games, a resolver settles.
// A role change ends the tokens issued before it (U1): the resolver signs in again.
let resolver = await user("resolver@posmul.dev");
if (!resolver.roles.includes("resolver")) {
  await must("PUT", `/v1/admin/users/${resolver.id}/roles/resolver`, { token: admin.token });
  const r = await must("POST", "/v1/auth/login", { body: { email: resolver.email, password } });
  resolver = { ...resolver, token: r.access_token, roles: [...resolver.roles, "resolver"] };
}
const alice = await user("alice@posmul.dev");
const bob = await user("bob@posmul.dev");
say(`users admin, resolver, alice, bob (password "${password}"), e-mail verified; sign-up grant: ${alice.grant?.status} ${alice.grant?.amount ?? "?"} PMP each`);
const start = await clock();
say(`the API's clock: ${iso(start.now)} (day ${start.day}, ${start.kind} clock)`);

// ── alice links a wallet (SIWE, U2): needed before the wave is built, or her credits wait for
//    a later one. Signed with an anvil key by `cast wallet sign` (EIP-191).
let wallet = (await must("GET", "/v1/me/wallet", { token: alice.token })).wallets[0]?.address;
if (!wallet) {
  const anvil = JSON.parse(readFileSync(process.env.ANVIL_JSON ?? ".dev/anvil.json", "utf8"));
  const key = anvil.private_keys[Number(process.env.ALICE_KEY_INDEX ?? 5)];
  const address = execFileSync("cast", ["wallet", "address", key], { encoding: "utf8" }).trim();
  const n = await must("GET", "/v1/auth/siwe/nonce?purpose=link-wallet");
  const message = `${n.domain} wants you to sign in with your Ethereum account:\n${address}\n\n` +
    `${n.statement}\n\nURI: ${n.uri}\nVersion: ${n.version}\nChain ID: ${n.chain_id}\n` +
    `Nonce: ${n.nonce}\nIssued At: ${new Date().toISOString().replace(/\.\d{3}Z$/, "Z")}`;
  const signature = execFileSync("cast", ["wallet", "sign", "--private-key", key, message], { encoding: "utf8" }).trim();
  await must("POST", "/v1/me/wallets/link", { token: alice.token, body: { message, signature } });
  wallet = address;
}
say(`alice's wallet ${wallet} is linked`);

// ── The economy configuration (M1). A new version applies from the next UTC day of the API's
//    clock; in demo mode that day is at most DEMO_DAY_SECONDS away.
// An earlier run's version is kept when it already applies by the next day (a version dated
// later, from a run whose chain went further, would keep the budget at 0 until then).
const nextDay = new Date(Date.parse(`${start.day}T00:00:00Z`) + 24 * 3_600_000).toISOString().slice(0, 10);
const versions = await must("GET", "/v1/admin/economy", { token: admin.token });
let version = versions.find((v) => positive(v.uncapped_daily_budget) && v.effective_from <= nextDay);
if (!version) {
  version = await must("POST", "/v1/admin/economy", {
    token: admin.token,
    // EBIT 1,460,000 PMC a year, the default tax rate 0.495: B(d) = 2,020 PMC a day.
    body: { annual_ebit_pmc: "1460000", note: "demo economy (script/seed.mjs)" },
  });
}
const budgetDay = new Date(`${version.effective_from}T00:00:00Z`);
say(`economy configuration v${version.version}: B(d) = ${pmc(version.uncapped_daily_budget)} a day from ${version.effective_from}`);

// ── Local League (I2): carol, a merchant, registers three stores around Seoul City Hall and
//    the admin verifies them (kept when an earlier run did); alice pays 12,000 KRW at the first
//    with the dev provider (paid at once) → a PMC credit of 12,000 × 1 % × 0.01 = 1.2 PMC that
//    joins her next wave with her prediction winnings.
let carol = await user("carol@posmul.dev");
if (!carol.roles.includes("merchant")) {
  await must("PUT", `/v1/admin/users/${carol.id}/roles/merchant`, { token: admin.token });
  const r = await must("POST", "/v1/auth/login", { body: { email: carol.email, password } });
  carol = { ...carol, token: r.access_token, roles: [...carol.roles, "merchant"] };
}
const CITY_HALL = { lat: 37.5665, lon: 126.978 };
const demoStores = [
  { name: "Jeongdong bakery", category: "bakery", address: "15 Jeongdong-gil, Jung-gu, Seoul", lat: 37.5658, lon: 126.9751 },
  { name: "Euljiro noodles", category: "restaurant", address: "100 Euljiro, Jung-gu, Seoul", lat: 37.5662, lon: 126.9868 },
  { name: "Sejong books", category: "bookstore", address: "175 Sejong-daero, Jongno-gu, Seoul", lat: 37.5716, lon: 126.9769 },
];
const near = async () => (await must("GET", `/v1/stores?lat=${CITY_HALL.lat}&lon=${CITY_HALL.lon}&radius_m=3000&limit=200`)).items;
let listed = await near();
for (const s of demoStores) {
  if (listed.some((f) => f.name === s.name)) continue;
  const store = await must("POST", "/v1/stores", { token: carol.token, key: `seed-store-${s.name}`, body: { ...s, non_franchise: true } });
  await must("POST", `/v1/admin/stores/${store.id}/verify`, { token: admin.token }, [200, 409]);
}
listed = await near();
const bakery = listed.find((f) => f.name === demoStores[0].name);
say(`LOCAL LEAGUE: ${listed.length} verified store(s) within 3 km of City Hall, nearest ${listed[0]?.name} at ${Math.round(listed[0]?.distance_m ?? 0)} m`);
const storePayment = await must("POST", "/v1/payments", {
  token: alice.token,
  key: `seed-alice-at-${bakery.id}`,
  body: { provider: "dev", amount: 12000, merchant_id: carol.id, store_id: bakery.id, description: "bread (script/seed.mjs)" },
});
say(`STORE PAYMENT: alice paid ${storePayment.amount} KRW at ${bakery.name} (${storePayment.state}); her PMC credit waits for the wave`);

// ── Major League (I1): carol advertises; her campaign's PMP budget is a KRW payment at the
//    PMP-per-KRW rate (1 by default): 100,000 KRW → 100,000 PMP. Views are measured by the
//    server from heartbeats (try them in the API docs: POST /v1/campaigns/{id}/views).
const running = (await must("GET", "/v1/campaigns?limit=200")).items ?? [];
let campaign = running.find((c) => c.title === "PosMul demo ad");
if (!campaign) {
  const t0 = new Date((await clock()).now.getTime());
  campaign = await must("POST", "/v1/campaigns", {
    token: carol.token, key: "seed-campaign",
    body: {
      title: "PosMul demo ad", creative_url: "https://posmul.dev/demo-ad.mp4", length_secs: 60, reward: 50,
      survey: { question: "Did you know PosMul?", options: ["yes", "no"], bonus: 10 },
      daily_limit: 3, starts_at: iso(t0), ends_at: iso(new Date(t0.getTime() + 30 * 24 * HOUR)),
    },
  });
  await must("POST", `/v1/campaigns/${campaign.id}/fundings`, {
    token: carol.token, key: `seed-funding-${campaign.id}`, body: { provider: "dev", amount: 100000 },
  });
}
say(`MAJOR LEAGUE: campaign "${campaign.title}" (${campaign.id}), 50 PMP a full view + 10 PMP survey bonus`);

// ── Cloud Funding (I3): bob proposes two projects closing three hours (of the API's clock)
//    from now; the admin approves them; alice funds the first to its goal, the second stays
//    far from its goal. The API settles both at their deadline (FUNDING_SETTLE_INTERVAL_SECS):
//    the first FUNDED (escrow to bob, 100 PMC per 10,000 KRW to alice), the second FAILED (refunded).
const mine = await must("GET", "/v1/funding/me/projects", { token: bob.token });
const projects = [
  { title: "Neighbourhood library shelves", goal_krw: 30000, pay: 30000 },
  { title: "Riverside concert stage", goal_krw: 5000000, pay: 10000 },
];
for (const p of projects) {
  if (mine.some((m) => m.title === p.title)) continue;
  const deadline = new Date((await clock()).now.getTime() + 3 * HOUR);
  const project = await must("POST", "/v1/funding/projects", {
    token: bob.token, key: `seed-project-${p.title}`,
    body: { title: p.title, description: `${p.title} (script/seed.mjs)`, goal_krw: p.goal_krw,
      min_contribution_krw: 1000, max_contribution_krw: 100000, deadline: iso(deadline) },
  });
  await must("POST", `/v1/admin/funding/projects/${project.id}/approve`, { token: admin.token });
  await must("POST", `/v1/funding/projects/${project.id}/contributions`, {
    token: alice.token, key: `seed-contribution-${project.id}`, body: { provider: "dev", amount_krw: p.pay },
  });
  say(`CLOUD FUNDING: "${p.title}" goal ${p.goal_krw} KRW, alice gave ${p.pay} KRW; settles at ${iso(deadline)} (API clock)`);
}

// ── Four games in four categories, timed in the API's clock: they open half an hour (of that
//    clock) from now. The first ends two whole hours into the budget's first day, so its pool
//    is two hourly pools of B(d); the others stay open for days.
const now = (await clock()).now;
const opens = new Date(Math.max(now.getTime() + HOUR / 2, 0));
const firstEnds = new Date(Math.max(budgetDay.getTime(), ceilHour(opens).getTime()) + 2 * HOUR);
const laterEnds = new Date(budgetDay.getTime() + 3 * 24 * HOUR);
const games = [
  { title: "Will the Seoul Derby end in a home win?", description: "Official match, 90 minutes plus stoppage time; extra time does not count.",
    game_type: "win_draw_lose", category: "sports", subcategory: "football", league: "K League 1", importance: 3,
    min_stake: 10, max_stake: 500, max_participants: 1000, options: ["Home", "Draw", "Away"], ends: firstEnds },
  { title: "Will the city council pass the participatory budget this week?", description: "Resolves YES if the council's published minutes record the vote as passed.",
    game_type: "binary", category: "politics", subcategory: "local", league: null, importance: 4,
    min_stake: 5, max_stake: 200, max_participants: null, options: ["Yes", "No"], ends: laterEnds },
  { title: "Which sector leads the KOSPI this quarter?", description: "The sector index with the largest percentage gain from the first to the last trading day of the quarter.",
    game_type: "ranking", category: "invest", subcategory: "equities", league: null, importance: 2,
    min_stake: 10, max_stake: 1000, max_participants: null, options: ["Semiconductors", "Batteries", "Biotech", "Banks"], ends: laterEnds },
  { title: "Will the festival film win the audience award?", description: "Resolves YES if the film is announced as the audience award winner at the closing ceremony.",
    game_type: "binary", category: "entertainment", subcategory: "film", league: null, importance: 1,
    min_stake: 1, max_stake: 100, max_participants: 500, options: ["Yes", "No"], ends: laterEnds },
];
const created = [];
for (const { ends, ...g } of games) {
  const game = await must("POST", "/v1/predictions/games", {
    token: admin.token,
    body: { ...g, starts_at: iso(opens), ends_at: iso(ends), settles_at: iso(new Date(ends.getTime() + HOUR)) },
  });
  created.push(game.id);
}
const first = created[0];
say(`4 games created (${games.map((g) => g.category).join(", ")}); they open at ${iso(opens)}, the first ends at ${iso(firstEnds)}`);

// ── Stakes (P4): once the games are ACTIVE by the clock.
await clockReaches("the games to open", opens);
for (const [u, option, amount] of [[alice, 0, 50], [bob, 2, 30]]) {
  await must("POST", `/v1/predictions/games/${first}/stakes`, {
    token: u.token, key: `seed-stake-${first}-${u.email}`, body: { option, amount },
  });
}
say(`STAKED: alice 50 PMP on "Home", bob 30 PMP on "Away" (game ${first})`);

// ── Settlement (P5): the resolver settles the first game once it has closed (the admin
//    created it, so P6 refuses the admin).
await clockReaches("the first game to close", firstEnds);
const settled = await must("POST", `/v1/predictions/games/${first}/settlement`, {
  token: resolver.token, body: { winning_option: 0 },
});
say(`SETTLED: "Home" wins; pool ${settled.pool_pmc} PMC, ${settled.winners} winner(s), ${settled.burned_stakes} PMP of stakes consumed; credits of day ${settled.day}`);

// ── The credit (E3): pending until its day's wave.
const before = await must("GET", "/v1/me/wallet", { token: alice.token });
say(`CREDITS ISSUED: alice has ${pmc(before.credits.pending)} pending for the wave of ${settled.day} (after the dispute window, ${settled.dispute_ends_at})`);
const balanceBefore = BigInt(before.wallets[0]?.onchain?.balance?.wei ?? "0");

// ── The wave (M3, M4): after day `settled.day` ends on the chain, the relayer builds it, then
//    publishes it; the proof route answers once the indexer has mirrored the root.
await until("the credit to enter a wave", async () =>
  positive((await must("GET", "/v1/me/wallet", { token: alice.token })).credits.in_wave), 2000);
say(`IN A WAVE: the relayer built the wave of ${settled.day} with alice's credit`);
const proof = await until("the wave to be published", async () => {
  const r = await call("GET", "/v1/me/pmc/claim", { token: alice.token });
  return r.status === 200 && r.json.claims.some((c) => positive(c.claimable)) ? r.json : null;
}, 2000);
const claim = proof.claims.find((c) => positive(c.claimable));
say(`WAVE PUBLISHED: MoneyWave day ${proof.day}, root ${proof.root}; alice may claim ${pmc(claim.claimable)}`);

// ── The claim (M5): the relayer claims for alice (claimMany); the tokens go to her wallet.
const queued = await must("POST", "/v1/me/pmc/claim-for-me", { token: alice.token });
say(`CLAIM REQUESTED: claim-for-me ${queued.requests.map((r) => `#${r.id} ${r.status}`).join(", ")}`);
const after = await until("the claim on chain", async () => {
  const w = await must("GET", "/v1/me/wallet", { token: alice.token });
  const onchain = w.wallets[0]?.onchain;
  return onchain && BigInt(onchain.balance.wei) > balanceBefore ? w : null;
}, 2000);
say(`CLAIMED: GET /v1/me/wallet shows ${pmc(after.wallets[0].onchain.balance)} on chain at ${after.wallets[0].address}`);
const final = await until("the credit to turn claimed", async () => {
  const w = await must("GET", "/v1/me/wallet", { token: alice.token });
  return positive(w.credits.claimed) ? w : null;
}, 2000);
for (const p of await must("GET", "/v1/funding/me/projects", { token: bob.token })) {
  say(`CLOUD FUNDING: "${p.title}" is ${p.state}`);
}
say(`DONE: alice's credits claimed ${pmc(final.credits.claimed)}, finalized balance ${pmc(final.wallets[0].onchain.finalized_balance)}; the whole economy in ${elapsed().trim()} of wall time`);
