// A Mercure publisher as Mercure's docs show it ("Publishing"): a form
// POST with a JWT, on Node.js's fetch. Usage:
//   node publisher.mjs HUB_URL JWT TOPIC COUNT
// It publishes COUNT updates with ids urn:node:1..COUNT and prints the id
// the hub answered for each.
const [hub, jwt, topic, count] = process.argv.slice(2);
for (let i = 1; i <= Number(count); i++) {
  const body = new URLSearchParams({ topic, data: JSON.stringify({ n: i }), id: `urn:node:${i}` });
  const res = await fetch(hub, { method: 'POST', headers: { Authorization: `Bearer ${jwt}` }, body });
  if (!res.ok) {
    console.error(`publish ${i}: ${res.status} ${await res.text()}`);
    process.exit(1);
  }
  console.log(await res.text());
}
