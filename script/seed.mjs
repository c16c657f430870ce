// Seeds a running PosMul API with demo data, through its public HTTP API only (so the seed obeys
// every rule a client does): an admin and two citizens, a PMP transfer, four prediction games in
// four categories that open a few seconds from now, and two stakes on the first. Safe to run again: existing users just log in.
//
//   node script/seed.mjs http://127.0.0.1:8080
const base = process.argv[2] ?? "http://127.0.0.1:8080";
const password = "posmul-demo-password";

async function call(method, path, { token, body, key } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (key) headers["idempotency-key"] = key;
  const res = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  return { status: res.status, json };
}

async function user(email) {
  let r = await call("POST", "/v1/auth/register", { body: { email, password } });
  if (r.status === 409) r = await call("POST", "/v1/auth/login", { body: { email, password } });
  if (r.status >= 300) throw new Error(`${email}: ${r.status} ${JSON.stringify(r.json)}`);
  const me = await call("GET", "/v1/me", { token: r.json.access_token });
  return { email, token: r.json.access_token, id: me.json.id ?? me.json.user_id };
}

const admin = await user("admin@posmul.dev");
const alice = await user("alice@posmul.dev");
const bob = await user("bob@posmul.dev");

const sent = await call("POST", "/v1/pmp/transfers", {
  token: alice.token, key: "seed-alice-to-bob-1",
  body: { to_user_id: bob.id, amount: 25, memo: "welcome to PosMul" },
});
console.log(`alice -> bob 25 PMP: ${sent.status}`);

const minute = 60_000, now = Date.now();
const at = (ms) => new Date(now + ms).toISOString();
const games = [
  { title: "Will the Seoul Derby end in a home win?", description: "Official match, 90 minutes plus stoppage time; extra time does not count.",
    game_type: "win_draw_lose", category: "sports", subcategory: "football", league: "K League 1", importance: 3,
    min_stake: 10, max_stake: 500, max_participants: 1000, options: ["Home", "Draw", "Away"] },
  { title: "Will the city council pass the participatory budget this week?", description: "Resolves YES if the council's published minutes record the vote as passed.",
    game_type: "binary", category: "politics", subcategory: "local", league: null, importance: 4,
    min_stake: 5, max_stake: 200, max_participants: null, options: ["Yes", "No"] },
  { title: "Which sector leads the KOSPI this quarter?", description: "The sector index with the largest percentage gain from the first to the last trading day of the quarter.",
    game_type: "ranking", category: "invest", subcategory: "equities", league: null, importance: 2,
    min_stake: 10, max_stake: 1000, max_participants: null, options: ["Semiconductors", "Batteries", "Biotech", "Banks"] },
  { title: "Will the festival film win the audience award?", description: "Resolves YES if the film is announced as the audience award winner at the closing ceremony.",
    game_type: "binary", category: "entertainment", subcategory: "film", league: null, importance: 1,
    min_stake: 1, max_stake: 100, max_participants: 500, options: ["Yes", "No"] },
];
const created = [];
for (const g of games) {
  const r = await call("POST", "/v1/predictions/games", {
    token: admin.token,
    body: { ...g, starts_at: at(10_000), ends_at: at(24 * 60 * minute), settles_at: at(25 * 60 * minute) },
  });
  console.log(`game "${g.title}": ${r.status}${r.status >= 300 ? " " + JSON.stringify(r.json) : ""}`);
  if (r.status < 300) created.push(r.json.id);
}
if (created.length > 0) {
  await new Promise((resolve) => setTimeout(resolve, 11_000)); // the games open (ACTIVE) at start
  for (const [u, option, amount] of [[alice, 0, 50], [bob, 2, 30]]) {
    const r = await call("POST", `/v1/predictions/games/${created[0]}/stakes`, {
      token: u.token, key: `seed-stake-${u.email}`, body: { option, amount },
    });
    console.log(`${u.email} stakes ${amount} PMP on option ${option}: ${r.status}`);
  }
}
console.log(`demo users (password "${password}"): ${[admin, alice, bob].map((u) => u.email).join(", ")}`);
